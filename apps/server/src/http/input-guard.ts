import { badRequest } from '../errors/app-error.js';
import type { App } from './types.js';

const hasNul = (v: unknown, depth = 0): boolean => {
  if (typeof v === 'string') return v.includes('\u0000');
  if (depth > 20 || v === null || typeof v !== 'object') return false;
  return Object.entries(v).some(([k, x]) => k.includes('\u0000') || hasNul(x, depth + 1));
};

/**
 * NUL characters are never valid input: PostgreSQL cannot store them in text and C tools end the
 * string there. Refused for every route, whatever its schema, before validation.
 */
export function registerInputGuard(app: App): void {
  app.addHook('preValidation', async (req) => {
    if (hasNul(req.query) || hasNul(req.params) || hasNul(req.body)) {
      throw badRequest(
        'invalid_characters',
        'the request contains a NUL character',
        'remove control characters from the input',
      );
    }
  });
}
