/** @file Public surface of the experiment store (SQLite + artifact files). Never imports jobs, host or Electron. */
export * from './store.ts';
export { LATEST_VERSION, MIGRATIONS, migrate, schemaVersion, SchemaVersionError, type Migration } from './schema.ts';
export { copyFileAtomic, hashFile, sha256Of, studioHome, tempNameFor, writeFileAtomic } from './files.ts';
