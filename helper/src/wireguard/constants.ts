// The protocol's constants, named as in the whitepaper and wireguard-go's device/constants.go.
// Times are milliseconds because the device runs on a millisecond monotonic clock.

export const REKEY_AFTER_MESSAGES = 1n << 60n;
export const REJECT_AFTER_MESSAGES = (1n << 64n) - (1n << 13n) - 1n;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const REKEY_TIMEOUT_JITTER_MAX = 334;
export const KEEPALIVE_TIMEOUT = 10_000;
export const COOKIE_REFRESH_TIME = 120_000;
export const HANDSHAKE_INITIATION_RATE = 20;
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
/** An initiator rekeys on receive a little before the responder would reject the session. */
export const REKEY_ON_RECEIVE_AGE = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT;
export const ZERO_KEY_MATERIAL_AFTER = REJECT_AFTER_TIME * 3;

/** Handshake messages (initiations, responses, cookie replies) that may wait; more are dropped. */
export const HANDSHAKE_QUEUE_SIZE = 1024;
/** Handshakes waiting in the queue beyond which the device is "under load" and demands cookies. */
export const UNDER_LOAD_QUEUE_SIZE = 128;
export const UNDER_LOAD_AFTER_TIME = 1_000;
export const MAX_STAGED_PACKETS = 128;

export const MESSAGE_INITIATION_TYPE = 1;
export const MESSAGE_RESPONSE_TYPE = 2;
export const MESSAGE_COOKIE_REPLY_TYPE = 3;
export const MESSAGE_TRANSPORT_TYPE = 4;

export const MESSAGE_INITIATION_SIZE = 148;
export const MESSAGE_RESPONSE_SIZE = 92;
export const MESSAGE_COOKIE_REPLY_SIZE = 64;
export const MESSAGE_TRANSPORT_HEADER_SIZE = 16;
export const MESSAGE_TRANSPORT_SIZE = MESSAGE_TRANSPORT_HEADER_SIZE + 16;
export const MESSAGE_KEEPALIVE_SIZE = MESSAGE_TRANSPORT_SIZE;
export const MAX_MESSAGE_SIZE = 65535;

export const PADDING_MULTIPLE = 16;
export const DEFAULT_MTU = 1420;
