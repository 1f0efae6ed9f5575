// Value lists of the enums the console offers in its forms, without zod (like patterns.ts), so that
// a page bundles them without the schema library; the schemas are built from them.

export const ROLES = ['admin', 'operator', 'viewer'] as const;

export const BOOT_MODES = ['normal', 'maintenance', 'local'] as const;

export const OS_TYPES = ['windows', 'linux', 'other'] as const;
