import { describe, expect, it } from 'vitest';
import { TGT_MODE as M, TGT_OP as O, encodeTgtRequest } from './tgt-ipc.js';

/**
 * Bytes tgtadm 1.0.85 writes to tgtd's socket, captured with
 *   strace -e trace=write -xx tgtadm -C N --lld iscsi --op new --mode target --tid 7 --targetname iqn.2024-01.lan.ggnet:zz
 * The encoder must produce exactly these.
 */
const NEW_TARGET_HEADER =
  '010000000000000069736373690000000000000000000000000000000000000000000000000000000000000000000000' +
  '0000000000000000000000000000000000000000000000009c000000070000000000000000000000ffffffffffffffff' +
  '000000000000000000000000000000000000000000000000';

describe('tgtd management protocol', () => {
  it('encodes a request like tgtadm does (header + NUL-terminated params)', () => {
    const b = encodeTgtRequest({
      mode: M.target,
      op: O.new,
      lld: 'iscsi',
      tid: 7,
      params: 'targetname=iqn.2024-01.lan.ggnet:zz',
    });
    expect(b.subarray(0, 120).toString('hex')).toBe(NEW_TARGET_HEADER);
    expect(b.subarray(120).toString('latin1')).toBe('targetname=iqn.2024-01.lan.ggnet:zz\0');
    expect(b.length).toBe(0x9c);
  });

  // fields as captured from tgtadm for each request GGnet sends: mode, op, tid, sid, lun, cid, ac_dir, force, params
  const cases: Array<
    [string, Parameters<typeof encodeTgtRequest>[0], Record<string, number | bigint>, string]
  > = [
    [
      'show target',
      { mode: M.target, op: O.show, lld: 'iscsi' },
      { mode: 1, op: 2, tid: -1, lun: 0xffffffffffffffffn },
      '',
    ],
    [
      'new LU',
      { mode: M.device, op: O.new, lld: 'iscsi', tid: 3, lun: 1, params: 'path=/tmp/exp-d.raw' },
      { mode: 2, op: 0, tid: 3, lun: 1n },
      'path=/tmp/exp-d.raw',
    ],
    [
      'update LU',
      {
        mode: M.device,
        op: O.update,
        lld: 'iscsi',
        tid: 3,
        lun: 1,
        params: 'targetOps vendor_id=GGnet,product_id=VirtualDisk,scsi_sn=abc,',
      },
      { mode: 2, op: 5, tid: 3, lun: 1n },
      'targetOps vendor_id=GGnet,product_id=VirtualDisk,scsi_sn=abc,',
    ],
    [
      'bind outgoing account',
      { mode: M.account, op: O.bind, lld: 'iscsi', tid: 3, acDir: 1, params: 'user=tgt.cap' },
      { mode: 7, op: 3, tid: 3, acDir: 1 },
      'user=tgt.cap',
    ],
    [
      'new account',
      { mode: M.account, op: O.new, lld: 'iscsi', params: 'user=capuser,password=Secret1234567890' },
      { mode: 7, op: 0, tid: -1 },
      'user=capuser,password=Secret1234567890',
    ],
    [
      'delete target force',
      { mode: M.target, op: O.delete, lld: 'iscsi', tid: 3, force: true },
      { mode: 1, op: 1, tid: 3, force: 1 },
      '',
    ],
    [
      'delete conn',
      { mode: M.connection, op: O.delete, lld: 'iscsi', tid: 3, sid: 9, cid: 0 },
      { mode: 6, op: 1, tid: 3, sid: 9n },
      '',
    ],
    [
      'new portal',
      { mode: M.portal, op: O.new, lld: 'iscsi', params: 'portalOps portal=127.0.0.1:39783,' },
      { mode: 3, op: 0 },
      'portalOps portal=127.0.0.1:39783,',
    ],
    ['show sys', { mode: M.system, op: O.show }, { mode: 0, op: 2, tid: -1 }, ''],
    [
      'bind address',
      { mode: M.target, op: O.bind, lld: 'iscsi', tid: 3, params: 'initiator-address=10.0.0.21' },
      { mode: 1, op: 3, tid: 3 },
      'initiator-address=10.0.0.21',
    ],
    [
      'show account',
      { mode: M.account, op: O.show, lld: 'iscsi' },
      { mode: 7, op: 2, tid: -1, lun: 0xffffffffffffffffn },
      '',
    ],
    [
      'stat conn',
      { mode: M.connection, op: O.stats, lld: 'iscsi', tid: 3, sid: 9, cid: 0 },
      { mode: 6, op: 6, tid: 3, sid: 9n, lun: 0xffffffffffffffffn },
      '',
    ],
  ];
  it.each(cases)('%s', (_name, req, fields, params) => {
    const b = encodeTgtRequest(req);
    const got = {
      mode: b.readUInt32LE(0),
      op: b.readUInt32LE(4),
      tid: b.readInt32LE(76),
      sid: b.readBigUInt64LE(80),
      lun: b.readBigUInt64LE(88),
      acDir: b.readUInt32LE(108),
      force: b.readUInt32LE(116),
    };
    expect(got).toMatchObject(fields);
    expect(b.readUInt32LE(72)).toBe(b.length);
    expect(b.subarray(120).toString('latin1')).toBe(params ? `${params}\0` : '');
    expect(b.subarray(8, 72).toString('latin1').replace(/\0+$/, '')).toBe(req.lld ?? '');
  });
});
