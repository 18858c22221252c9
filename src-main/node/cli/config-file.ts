/** @file Reading a config list file for the CLI commands: a clear error for a missing file or bad JSON. */
import { PathError, READ_LIMITS, readTextInput } from '../io/guard.ts';
import { quoted } from '../../../src-shared/errors.ts';
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
    text = readTextInput(path, { what: 'config list', maxBytes: READ_LIMITS.json });
  } catch (e) {
    if (e instanceof PathError) throw new ConfigFileError(e.message, path);
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigFileError(`config list ${quoted(path)} is not JSON: ${(e as Error).message}`, path);
  }
}
