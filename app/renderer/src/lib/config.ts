// Config-editor logic around the shared parser: which problems to show, tunnel-name rules, and a
// name from a file name. Pure (no DOM).

import { isInterfaceName } from '../../../../shared/src/interface-name.ts';
import { checkConfig } from '../../../../shared/src/config/parse.ts';
import type { ConfigError } from '../../../../shared/src/errors.ts';
import { strings } from '../strings.ts';

export interface EditorProblem {
  line: number;
  message: string;
}

function toProblem(error: ConfigError): EditorProblem {
  return { line: error.line, message: strings.configErrors.line(error.message) };
}

/**
 * Problems in a config text. In `edit` mode the text comes from tunnels.text, without the
 * PrivateKey line that the helper keeps, so "PrivateKey is missing" is expected and left out.
 */
export function configProblems(text: string, mode: 'import' | 'edit'): EditorProblem[] {
  const { errors } = checkConfig(text);
  const problems = errors
    .filter(
      (error) => !(mode === 'edit' && error.key === 'PrivateKey' && /is missing from/.test(error.message)),
    )
    .map(toProblem);
  // The parser accepts wg-quick's hooks; the helper refuses them. Say so at their lines, before saving.
  const taken = new Set(problems.map((problem) => problem.line));
  text.split('\n').forEach((raw, index) => {
    const hook = /^\s*(PreUp|PostUp|PreDown|PostDown)\s*=/i.exec(raw.split('#')[0]);
    if (hook && !taken.has(index + 1))
      problems.push({ line: index + 1, message: strings.configErrors.hook(index + 1, hook[1]) });
  });
  return problems.sort((a, b) => a.line - b.line);
}

/** A config problem the helper reported (its message may or may not start with "line N:"). */
export function helperProblem(message: string, line: number): EditorProblem {
  const text = strings.configErrors.line(message);
  return { line, message: /^Line \d+:/.test(text) ? text : strings.configErrors.atLine(line, text) };
}

/** wg-quick's interface-name rule, as the helper checks it (TunnelName in the protocol). */
export function nameProblem(name: string, existing: readonly string[] = []): string | null {
  if (name === '') return strings.nameErrors.empty;
  if (name === '.' || name === '..') return strings.nameErrors.dots;
  if (!isInterfaceName(name)) return strings.nameErrors.invalid;
  if (existing.includes(name)) return strings.nameErrors.taken(name);
  return null;
}

export { nameFromFile } from '../../../../shared/src/config/name-from-file.ts';
