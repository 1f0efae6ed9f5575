/**
 * The public entry points of @ggnet/server for programs outside the server (bench/, tools): the
 * composition root, the app, the server and the config schema. Everything else is internal; what a
 * caller needs of it goes through the container these return.
 */
export { createContainer, type Container, type ContainerOptions } from './container.js';
export { buildApp, type AppExtensions } from './app.js';
export { startServer, type RunningServer, type StartOptions } from './server.js';
export { ConfigSchema, type Config } from './config/config.schema.js';
export { migrateToLatest } from './db/database.js';
