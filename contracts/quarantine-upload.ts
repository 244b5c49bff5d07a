// The quarantine's upload contract: chunk size and name/id patterns, shared by the quarantine (which serves uploads) and the gateway (which cuts a browser upload into chunks).
/** The largest upload chunk one bus message carries (the bus allows 1 MiB per message). */
export const UPLOAD_CHUNK_BYTES = 512 * 1024;
/** One path segment, no leading dot (dotfiles are ignored everywhere), nothing a shell or a path would read twice. */
export const UPLOAD_NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$';
export const UPLOAD_ID_PATTERN = '^[0-9a-f]{32}$';
