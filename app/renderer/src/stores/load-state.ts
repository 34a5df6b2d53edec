// How far a store's first load has come (tunnels.ts, logs.ts).

export type LoadState = 'loading' | 'ready' | 'error';
