// The only web pages the app opens: the renderer names one (app.openLink), never a URL, and the main
// process refuses window.open for anything else.

export const LINKS = {
  help: 'https://phantommesh.net/help',
  issues: 'https://phantommesh.net/issues',
} as const;

export type LinkName = keyof typeof LINKS;

export function isAllowedLink(url: string): boolean {
  return Object.values(LINKS).some((link) => link === url);
}
