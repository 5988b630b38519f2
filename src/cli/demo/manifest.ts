import type { FixtureModuleName } from '../../../adapters/wasm';

/** The versions the demo rolls through, in order. */
export const DEMO_VERSIONS = ['v1', 'v2', 'v3'] as const satisfies readonly FixtureModuleName[];
export type DemoVersion = (typeof DEMO_VERSIONS)[number];

export const DEMO_APP = 'hello';
export const DEMO_HTTP_IMAGE = 'ghcr.io/wasmcloud/http-server:0.27.0';

/** Each version listens somewhere else, so every rollout also swaps a link config on every host. */
export const DEMO_ADDRESSES: Readonly<Record<DemoVersion, string>> = {
  v1: '0.0.0.0:8080',
  v2: '0.0.0.0:8081',
  v3: '0.0.0.0:8082',
};

/** The in-memory artifact reference of a version's component (served by the wasm runtime's `artifacts`). */
export function demoImage(version: DemoVersion): string {
  return `builtin://cutover-demo/greeter-${version}.wasm`;
}

/** The version whose component image is `imageRef`, if any. */
export function versionOfImage(imageRef: string | undefined): DemoVersion | undefined {
  return DEMO_VERSIONS.find((v) => demoImage(v) === imageRef);
}

/**
 * The wadm manifest of one demo version, as a user would write it: a wasm component and the built-in
 * HTTP server, both on every host (daemonscaler), linked over wasi:http with a listen address.
 */
export function demoManifest(version: DemoVersion): string {
  return `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: ${DEMO_APP}
  annotations:
    version: ${version}
    description: cutover demo, greeter ${version}
spec:
  components:
    - name: greeter
      type: component
      properties:
        image: ${demoImage(version)}
      traits:
        - type: daemonscaler
          properties:
            instances: 1
    - name: httpserver
      type: capability
      properties:
        image: ${DEMO_HTTP_IMAGE}
      traits:
        - type: daemonscaler
          properties:
            instances: 1
        - type: link
          properties:
            target:
              name: greeter
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source:
              config:
                - name: default-http
                  properties:
                    address: ${DEMO_ADDRESSES[version]}
`;
}
