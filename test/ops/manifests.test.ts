/**
 * The Kubernetes manifests in deploy/kubernetes validate offline against the Kubernetes API
 * schemas (kubernetes-models' generated validators), and say what the deploy README promises:
 * a native sidecar, directory-mounted policies, keys from a Secret, probes, a drain budget.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Secret, type IContainer } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../sidecar/config/load-config.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MANIFESTS = join(ROOT, 'deploy/kubernetes');

interface Manifest {
  file: string;
  document: { apiVersion: string; kind: string; metadata: { name: string } } & Record<string, unknown>;
}

function manifests(): Manifest[] {
  return readdirSync(MANIFESTS)
    .filter((file) => file.endsWith('.yaml'))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(MANIFESTS, file), 'utf8')).map((document) => {
        if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]?.message}`);
        return { file, document: document.toJS() as Manifest['document'] };
      }),
    );
}

/** Validate one object with the model class of its kind; throws the schema errors. */
function validate(document: Manifest['document']): void {
  const models: Record<string, (data: never) => { validate(): void }> = {
    'apps/v1/Deployment': (data) => new Deployment(data),
    'v1/ConfigMap': (data) => new ConfigMap(data),
    'v1/Secret': (data) => new Secret(data),
  };
  const model = models[`${document.apiVersion}/${document.kind}`];
  if (!model) throw new Error(`no validator for ${document.apiVersion} ${document.kind}`);
  model(document as never).validate();
}

/** The policies ConfigMap as `kubectl create configmap switchyard-policies --from-file=...` makes it (deploy/README.md). */
function policiesConfigMap(): Manifest['document'] {
  const data = Object.fromEntries(['catalog.yaml', 'simulated.yaml', 'default.yaml'].map((file) => [file, readFileSync(join(ROOT, 'policies', file), 'utf8')]));
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'switchyard-policies' }, data };
}

describe('deploy/kubernetes manifests', () => {
  const all = manifests();
  const byKind = (kind: string): Manifest['document'][] => all.filter((manifest) => manifest.document.kind === kind).map((manifest) => manifest.document);

  it('validate against the Kubernetes API schemas', () => {
    expect(all.map((manifest) => `${manifest.file}:${manifest.document.kind}`).sort()).toEqual([
      'deployment.yaml:Deployment',
      'provider-keys.secret.yaml:Secret',
      'switchyard-config.yaml:ConfigMap',
    ]);
    for (const manifest of all) expect(() => validate(manifest.document), manifest.file).not.toThrow();
    expect(() => validate(policiesConfigMap())).not.toThrow();
  });

  it('the validator rejects a broken manifest (it is not a no-op)', () => {
    const deployment = structuredClone(byKind('Deployment')[0]!) as unknown as { spec: { template: { spec: { initContainers: Array<Record<string, unknown>> } } } };
    deployment.spec.template.spec.initContainers[0]!.restartPolicy = 42;
    expect(() => validate(deployment as unknown as Manifest['document'])).toThrow();
    const misspelt = structuredClone(byKind('Deployment')[0]!) as unknown as { spec: Record<string, unknown> };
    misspelt.spec.replicas = 'two';
    expect(() => validate(misspelt as unknown as Manifest['document'])).toThrow();
  });

  it('runs Switchyard as a native sidecar with probes, a drain budget, keys from a Secret and policies as a directory', () => {
    const deployment = new Deployment(byKind('Deployment')[0] as never);
    const pod = deployment.spec!.template.spec!;
    const sidecar = pod.initContainers?.find((container) => container.name === 'switchyard') as IContainer;
    expect(sidecar.restartPolicy).toBe('Always');
    expect(sidecar.startupProbe?.httpGet?.path).toBe('/readyz');
    expect(sidecar.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(sidecar.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(sidecar.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true, allowPrivilegeEscalation: false });
    expect(sidecar.resources?.requests).toBeDefined();
    expect(sidecar.resources?.limits?.memory).toBeDefined();
    const keyVariables = (sidecar.env ?? []).filter((variable) => variable.valueFrom?.secretKeyRef?.name === 'switchyard-provider-keys');
    expect(keyVariables.map((variable) => variable.name)).toContain('OPENAI_API_KEY');
    expect((sidecar.env ?? []).every((variable) => !/KEY$/.test(variable.name) || variable.valueFrom !== undefined)).toBe(true);

    const policiesMount = sidecar.volumeMounts?.find((mount) => mount.name === 'switchyard-policies');
    expect(policiesMount?.subPath).toBeUndefined();
    expect(pod.volumes?.find((volume) => volume.name === 'switchyard-policies')?.configMap?.name).toBe('switchyard-policies');
    // Writable places for a read-only root filesystem.
    expect(sidecar.volumeMounts?.map((mount) => mount.mountPath)).toEqual(expect.arrayContaining(['/tmp', '/var/lib/switchyard']));

    const preStopSeconds = sidecar.lifecycle?.preStop?.sleep?.seconds ?? 0;
    const drainMs = Number(sidecar.env?.find((variable) => variable.name === 'SWITCHYARD_DRAIN_TIMEOUT_MS')?.value);
    expect(drainMs).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStopSeconds + drainMs / 1000 + 5);
    // The admin port the probes use is the one the sidecar is told to listen on.
    expect(sidecar.env?.find((variable) => variable.name === 'SWITCHYARD_ADMIN_PORT')?.value).toBe(String(sidecar.ports?.find((port) => port.name === 'admin')?.containerPort));
  });

  it('the mounted gateway config loads, and points at the files of the policies ConfigMap', () => {
    const config = byKind('ConfigMap').find((document) => document.metadata.name === 'switchyard-config') as unknown as { data: Record<string, string> };
    const loaded = loadConfig({ file: '/etc/switchyard/config/switchyard.yaml', text: config.data['switchyard.yaml']!, env: {}, cwd: '/' });
    if (!loaded.ok) throw new Error(loaded.diagnostics.map((diagnostic) => diagnostic.message).join('\n'));
    const policyFiles = Object.keys(policiesConfigMap().data as Record<string, string>).map((file) => `/etc/switchyard/policies/${file}`);
    expect([...loaded.value.catalogFiles, loaded.value.policyFile].sort()).toEqual(policyFiles.sort());
    // ConfigMaps hold at most 1 MiB.
    expect(JSON.stringify(policiesConfigMap()).length).toBeLessThan(1024 * 1024);
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
  const buildStage = dockerfile.slice(0, dockerfile.indexOf('# --- runtime ---'));

  it('copies every source the install-time build (bin/build.mjs) reads before `npm ci` runs it', () => {
    const sources = /SOURCE_PATHS = \[([^\]]*)\]/.exec(readFileSync(join(ROOT, 'bin/build.mjs'), 'utf8'))?.[1];
    expect(sources).toBeDefined();
    const needed = [...sources!.matchAll(/'([^']+)'/g)].map((match) => match[1]!).concat(['bin', 'package-lock.json']);
    const beforeInstall = buildStage.slice(0, buildStage.indexOf('RUN npm ci'));
    const copied = [...beforeInstall.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((match) => match[1]!.split(/\s+/));
    for (const path of needed) expect(copied, path).toContain(path);
  });

  it('runs as a non-root user with node as PID 1 (exec form), from node:20-slim', () => {
    expect(dockerfile).toMatch(/^FROM node:20-slim AS build$/m);
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
    // The container starts the gateway exactly as `npm start` does, V8 memory flags included.
    const start = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts.start;
    const entrypoint = dockerfile.match(/^ENTRYPOINT (\[.*\])$/m)?.[1];
    expect(entrypoint && (JSON.parse(entrypoint) as string[]).join(' ')).toBe(start);
    expect(dockerfile).toContain('npm ci --omit=dev');
  });
});
