// Argument checks at the TypeScript boundary, before anything reaches the native addon.
import { describe, invalidRange, invalidType } from './errors.js';

type TypedArrayCtor = Float32ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor;

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** A typed array of the given constructor whose length is the product of `shape`. */
function checkTyped<T extends ArrayBufferView>(
  ctor: TypedArrayCtor,
  value: unknown,
  name: string,
  shape: readonly number[],
): T {
  const expectedLen = shape.reduce((a, b) => a * b, 1);
  if (!(value instanceof ctor)) {
    throw invalidType(`${ctor.name} of shape ${shapeText(shape)} (length ${expectedLen})`, name, value);
  }
  const len = (value as unknown as { length: number }).length;
  if (len !== expectedLen) {
    throw invalidRange(
      `${ctor.name} of shape ${shapeText(shape)} (length ${expectedLen})`,
      name,
      `length ${len}`,
    );
  }
  return value as unknown as T;
}

export function checkF32(value: unknown, name: string, shape: readonly number[]): Float32Array {
  return checkTyped<Float32Array>(Float32Array, value, name, shape);
}
export function checkI32(value: unknown, name: string, shape: readonly number[]): Int32Array {
  return checkTyped<Int32Array>(Int32Array, value, name, shape);
}
export function checkU8(value: unknown, name: string, shape: readonly number[]): Uint8Array {
  return checkTyped<Uint8Array>(Uint8Array, value, name, shape);
}

/** A Float32Array whose length is a multiple of `rowWidth`; returns the row count. */
export function checkRows(value: unknown, name: string, rowWidth: number): number {
  if (!(value instanceof Float32Array)) {
    throw invalidType(`Float32Array of shape [rows,${rowWidth}]`, name, value);
  }
  if (value.length === 0 || value.length % rowWidth !== 0) {
    throw invalidRange(
      `Float32Array of shape [rows,${rowWidth}] with rows >= 1`,
      name,
      `length ${value.length}`,
    );
  }
  return value.length / rowWidth;
}

/** Every entry finite (for inputs whose documented contract is NaN-free). */
export function checkFinite(value: Float32Array, name: string): void {
  for (let i = 0; i < value.length; i++) {
    if (!Number.isFinite(value[i])) {
      throw invalidRange(`finite values in ${name}`, name, `${value[i]} at index ${i}`);
    }
  }
}

export function checkInt(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalidType(`integer between ${min} and ${max}`, name, value);
  }
  if (value < min || value > max) {
    throw invalidRange(`integer between ${min} and ${max}`, name, describe(value));
  }
  return value;
}

export function checkNumber(value: unknown, name: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || Number.isNaN(value)) throw invalidType('number', name, value);
  if (!Number.isFinite(value) || value < min || value > max) {
    const range = Number.isFinite(min) && Number.isFinite(max) ? ` between ${min} and ${max}`
      : Number.isFinite(min) ? ` >= ${min}` : Number.isFinite(max) ? ` <= ${max}` : '';
    throw invalidRange(`finite number${range}`, name, describe(value));
  }
  return value;
}

export function checkBool(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalidType('boolean', name, value);
  return value;
}

export function checkOneOf<T extends string>(value: unknown, name: string, options: readonly T[]): T {
  if (typeof value !== 'string' || !options.includes(value as T)) {
    throw invalidType(`one of ${options.map((o) => `"${o}"`).join(', ')}`, name, value);
  }
  return value as T;
}
