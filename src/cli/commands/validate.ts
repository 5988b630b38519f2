// Placeholder until the manifest parser lands; replaced by the manifest work.
export async function run(_args: string[]): Promise<number> {
  process.stderr.write('cutover validate: not available yet\n');
  return 1;
}
