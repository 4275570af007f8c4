// The one error factory: every bad-input message reads "Expected <what> for <name> but received <what>".

/** Describe a value for an error message: its type, and its length or value when short. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor?.name ?? 'TypedArray';
    const len = (value as unknown as { length?: number }).length;
    return len === undefined ? name : `${name} of length ${len}`;
  }
  if (Array.isArray(value)) return `Array of length ${value.length}`;
  switch (typeof value) {
    case 'number':
      return `${value} of type number`;
    case 'string':
      return value.length > 40 ? `string "${value.slice(0, 37)}..."` : `string "${value}"`;
    case 'boolean':
      return `${value} of type boolean`;
    case 'function':
      return 'function';
    default:
      return (value as object).constructor?.name ?? 'object';
  }
}

/** TypeError for a value of the wrong kind. */
export function invalidType(expected: string, name: string, actual: unknown): TypeError {
  return new TypeError(`Expected ${expected} for ${name} but received ${describe(actual)}`);
}

/** RangeError for a value of the right kind but the wrong size, shape or range. */
export function invalidRange(expected: string, name: string, actual: string): RangeError {
  return new RangeError(`Expected ${expected} for ${name} but received ${actual}`);
}

/** An error about a file: names the file and, where known, the field or row. */
export class FileFormatError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'FileFormatError';
  }
}

/**
 * Await a native Promise; a rejection (which carries no JS stack: it was made on a worker thread)
 * gets the stack of `site`, an Error created at the caller's line before going native.
 */
export async function withCallerStack<T>(promise: Promise<T>, site: Error): Promise<T> {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof Error && site.stack) {
      const frames = site.stack.split('\n').slice(1).join('\n');
      err.stack = `${err.name}: ${err.message}\n${frames}`;
    }
    throw err;
  }
}
