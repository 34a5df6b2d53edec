/** The helper's version: what `--version`, the control API's hello and the diagnostics report. */
export const HELPER_VERSION = '0.1.0';
