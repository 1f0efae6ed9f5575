/** A qcow2 v3 header (what `qemu-img create -b` writes) naming `backing` as its backing file. */
export function qcow2Header(backing: string | null): Buffer {
  const b = Buffer.alloc(512);
  b.writeUInt32BE(0x514649fb, 0);
  b.writeUInt32BE(3, 4);
  if (backing) {
    b.writeBigUInt64BE(200n, 8);
    b.writeUInt32BE(Buffer.byteLength(backing), 16);
    b.write(backing, 200);
  }
  return b;
}
