import { z } from 'zod';

/** Which hosts go first: by name, or by a label whose listed values go first in that order (a canary zone). */
export const HostOrder = z.union([
  z.literal('name'),
  z.strictObject({ label: z.string().min(1), values: z.array(z.string()).min(1) }),
]);
export type HostOrder = z.infer<typeof HostOrder>;
