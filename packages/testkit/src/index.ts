/**
 * @ggnet/testkit: what the test tiers, e2e and bench share instead of copies (source only: run
 * through vitest or tsx). Processes by PID, free ports, network namespaces, loop filesystems and
 * seeding a container's database and data dir.
 */
export * from './processes.js';
export * from './ports.js';
export * from './netns.js';
export * from './loopfs.js';
export * from './seed.js';
export * from './db.js';
export * from './iscsi.js';
