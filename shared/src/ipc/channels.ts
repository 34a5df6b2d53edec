// The IPC channel names, apart from the schema so that the preload bundle does not pull in zod.

/** Renderer → main calls. */
export const INVOKE_CHANNEL = 'phantommesh:invoke';
/** Main → renderer events. */
export const EVENT_CHANNEL = 'phantommesh:event';
