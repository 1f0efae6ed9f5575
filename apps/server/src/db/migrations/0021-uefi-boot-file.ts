import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

/**
 * An image's UEFI boot file: the bootloader iPXE's UEFI `sanboot` starts on the network disk when
 * it is not the removable-media default `\EFI\BOOT\BOOTX64.EFI` (a captured Windows disk may only
 * have `\EFI\Microsoft\Boot\bootmgfw.efi`). Null = iPXE's default.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.alterTable('images').addColumn('uefi_boot_file', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('images').dropColumn('uefi_boot_file').execute();
}
