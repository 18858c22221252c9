/** @file Reading a config list file for the CLI commands: a clear error for a missing file or bad JSON. */
import { readFileSync } from 'node:fs';
import { StudioError } from '../../core/ir/errors.ts';

export class ConfigFileError extends StudioError {
  constructor(message: string, path: string) {
    super(message, 'CONFIG_FILE', { path });
  }
}

/** The parsed JSON of a config list file (validated later against the mode's schema). */
export function readConfigList(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigFileError(`cannot read config list ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, path);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigFileError(`config list ${path} is not JSON: ${(e as Error).message}`, path);
  }
}
