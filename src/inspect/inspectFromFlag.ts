import { createInspector, type Inspector, type InspectorOptions } from './createInspector';

/**
 * The inspector a `--inspect [URL]` flag asks for: none when absent or `false`, the default address for a
 * bare flag (`true`, `''`, `'true'`), else the given `ws://` or `wss://` URL (`config.invalid` otherwise).
 * @example
 * const inspector = inspectFromFlag(flags.inspect);
 * const host = createHost({ ...options, ...(inspector && { inspect: inspector.inspect }) });
 */
export function inspectFromFlag(
  value: string | boolean | undefined,
  options: Omit<InspectorOptions, 'url' | 'enabled'> = {},
): Inspector | undefined {
  if (value === undefined || value === false || value === 'false') return undefined;
  if (value === true || value === '' || value === 'true') return createInspector(options);
  return createInspector({ ...options, url: value });
}
