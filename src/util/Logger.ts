/**
 * The structured logger baton's Node parts write to: any pino-compatible logger fits
 * (`pino()`, a `pino` child, or an object with these four methods). The library is silent
 * unless one is given; the `baton` command passes a `pino` logger at level info.
 */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

const nothing = (): void => {};

/** The default: drops everything. */
export const silentLogger: Logger = { debug: nothing, info: nothing, warn: nothing, error: nothing };
