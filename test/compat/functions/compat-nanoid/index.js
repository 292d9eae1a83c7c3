// An ES module function on an ESM-only package (nanoid 5 has no CommonJS build).
import { customAlphabet } from 'nanoid';

const id = customAlphabet('abcdef', 10);

export async function handler() {
  const value = id();
  return { length: value.length, alphabetOk: /^[a-f]+$/.test(value) };
}
