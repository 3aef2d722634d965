// What a client may read of a data error: the dataset URI as the client gave it and what is
// wrong, never where it lies on the server. The loaders' messages name resolved paths (the real
// dataset directory, the data roots, where a symlink leads), which is what an operator needs in
// the server log; a service logs those and sends this instead.
import { realpathSync } from 'node:fs';
import * as path from 'node:path';
import { datasetPaths, parseDatasetUri } from './uri';

/** What a server path the client did not give becomes. */
export const SERVER_PATH = '<server path>';
/** What a data root becomes. */
export const DATA_ROOT = '<data root>';

function realOrNothing(p: string): string[] {
  try {
    return [realpathSync(p)];
  } catch {
    return [];
  }
}

/**
 * `message` with every server path rewritten for the client who asked for `uri`: where a path
 * the URI gives lies on the server becomes the path as given, a data root becomes `<data root>`,
 * and any other absolute path (a symlink's target, a file outside the roots) `<server path>`.
 * The URI itself is left as it is, and leads a message that had paths but not the URI.
 */
export function clientDataMessage(message: string, uri: string, dataRoots: readonly string[]): string {
  let given: string[] = [];
  try {
    given = datasetPaths(parseDatasetUri(uri)).map((p) => p.path);
  } catch {
    // An unparseable URI names no path to keep.
  }
  const roots = dataRoots.flatMap((root) => [path.resolve(root), ...realOrNothing(root)]);
  const rewrites: [string, string][] = [];
  for (const p of given) {
    const landings = path.isAbsolute(p) ? [path.resolve(p)] : roots.map((root) => path.resolve(root, p));
    for (const at of landings)
      rewrites.push([at, p], ...realOrNothing(at).map((r): [string, string] => [r, p]));
  }
  for (const root of roots) rewrites.push([root, DATA_ROOT]);
  // Longest first, so that a dataset directory wins over the root it lies in.
  rewrites.sort((a, b) => b[0].length - a[0].length);

  // Kept parts become placeholders (NUL cannot occur in a path or a URI) while the rest is scrubbed.
  const kept: string[] = [];
  const keep = (text: string): string => `\0${kept.push(text) - 1}\0`;
  let out = message.split(uri).join(keep(uri));
  for (const [from, to] of rewrites) {
    if (from === path.sep) continue;
    // Only whole path components: /data must not rewrite /database.
    out = out.replace(new RegExp(`${escapeRegExp(from)}(?=$|[/\\\\\\s"'),:;])`, 'g'), () => keep(to));
  }
  // Whatever absolute path is left is the server's: a path starts after a separator-like character.
  out = out.replace(new RegExp(ABSOLUTE_PATH.source, 'g'), (_, lead: string) => lead + SERVER_PATH);
  out = out.replace(/\0(\d+)\0/g, (_, i: string) => kept[Number(i)]);
  // A message about a file of the dataset that does not say which dataset says so (one with no
  // path in it is about something else, e.g. a backbone model, and stays as it is).
  const hadPath = ABSOLUTE_PATH.test(message);
  return !hadPath || out.includes(uri) ? out : `dataset URI ${JSON.stringify(uri)}: ${out}`;
}

/** An absolute path in a message: it starts after a separator-like character. */
const ABSOLUTE_PATH = /(^|[\s"'(=,:[])\/[^\s"'),;\0\]]*/;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
