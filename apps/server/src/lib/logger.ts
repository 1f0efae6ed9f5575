import pino, { type Logger } from 'pino';

/** Structured JSON logs (pino). Pipe through `npx pino-pretty` to read them in a terminal. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'ggnet' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'req.headers.authorization',
          '*.password',
          '*.refreshToken',
          '*.accessToken',
          'password',
          'chapSecret',
          '*.chapSecret',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
