import { type CutoverError, isCutoverError } from 'cutover';

/** The CutoverError `promise` rejects with; fails the test if it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<CutoverError> {
  try {
    await promise;
  } catch (error) {
    if (isCutoverError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}
