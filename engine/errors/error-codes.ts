/** Every engine diagnostic / error code with a one-line meaning. STUB: engine-compile helper fills this. */
export const ENGINE_ERROR_CODES: Readonly<Record<string, string>> = {};
