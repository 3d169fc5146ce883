/**
 * A config problem the user must fix; the message names the file and the key. Its own
 * file so that the CLI can recognise it without loading the config schema.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
