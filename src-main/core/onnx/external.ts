/**
 * @file External-data locations: the pure part of reading weights kept in side files. A location must be a
 * relative path that stays inside the model's folder; the node layer does the actual file reads.
 */
import { quoted } from '../../../src-shared/errors.ts';
import { ExternalDataPathError } from './errors.ts';

/** How the serde asks the host for bytes of an external data file. */
export type ExternalReader = (req: { location: string; offset: number; length: number; tensor: string }) => Uint8Array;

/**
 * Normalise an external-data location and refuse any that escapes the model folder:
 * absolute paths, drive letters, `..` segments that climb above the folder, NUL bytes.
 * Returns the normalised relative path with `/` separators.
 */
export function confineLocation(location: string, tensor: string): string {
  if (location.length === 0) throw new ExternalDataPathError('external data location is empty', { tensor });
  if (location.includes('\0'))
    throw new ExternalDataPathError('external data location contains a NUL byte', { tensor });
  const unified = location.replace(/\\/g, '/');
  if (unified.startsWith('/') || /^[a-zA-Z]:/.test(unified) || unified.startsWith('//')) {
    throw new ExternalDataPathError(
      `external data location ${quoted(location)} is absolute; it must be relative to the model folder`,
      {
        tensor,
      },
    );
  }
  const parts: string[] = [];
  for (const seg of unified.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) {
        throw new ExternalDataPathError(`external data location ${quoted(location)} points outside the model folder`, {
          tensor,
        });
      }
      parts.pop();
    } else parts.push(seg);
  }
  if (parts.length === 0)
    throw new ExternalDataPathError(`external data location ${quoted(location)} names no file`, { tensor });
  return parts.join('/');
}
