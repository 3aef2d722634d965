// `make deploy-check`: every overlay rendered with `kubectl kustomize` and read as a reviewer
// would: probes on the ports the Services name, ports and configuration the services accept,
// state on volumes, images of this version, nobody running as root, a GPU where the GPU overlay
// says, and the evaluators' port closed to all but the search service. The images' Dockerfiles
// are read against the same tables.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadAll } from 'js-yaml';
import { availableCores, wasmThreadsPerEngine } from '@rnas/engine';
import { SERVICE_ENDPOINTS, SERVICE_OPTIONS, type OptionSpecs } from '@rnas/grpc';
import { INFERENCE_OPTIONS, loadInferenceConfig } from '@rnas/inference';
import { loadSearchServiceConfig, SEARCH_OPTIONS } from '@rnas/search-service';
import { loadTrainingServiceConfig, TRAINING_OPTIONS } from '@rnas/training-service';

const ROOT = path.resolve(__dirname, '..', '..');
const readJson = <T>(file: string): T => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8')) as T;
const VERSION = readJson<{ version: string }>('package.json').version;
const OVERLAYS = ['cpu', 'gpu', 'cpu-prometheus', 'gpu-prometheus'] as const;

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped YAML */
type Manifest = Record<string, any>;
type Kind = keyof typeof SERVICE_ENDPOINTS;
type Env = Record<string, string>;

/** What each service reads: its loader and its own options (beside SERVICE_OPTIONS). */
const SERVICES = {
  search: { load: (env: Env) => loadSearchServiceConfig([], env), options: SEARCH_OPTIONS },
  training: { load: (env: Env) => loadTrainingServiceConfig([], env), options: TRAINING_OPTIONS },
  inference: { load: (env: Env) => loadInferenceConfig([], env), options: INFERENCE_OPTIONS },
} satisfies Record<Kind, { load: (env: Env) => object; options: OptionSpecs }>;

/**
 * The variables a service reads: its options', and the engine's (libs/engine: the backend, and
 * the cores and threads of its wasm engines).
 */
const variablesOf = (kind: Kind): string[] => [
  ...Object.values({ ...SERVICE_OPTIONS, ...SERVICES[kind].options }).map((spec) => spec.env),
  'RNAS_BACKEND',
  'RNAS_CPUS',
  'RNAS_WASM_THREADS',
];

function render(overlay: string): Manifest[] {
  let text: string;
  try {
    text = execFileSync('kubectl', ['kustomize', path.join(ROOT, 'deploy', 'overlays', overlay)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        'kubectl is not installed: `make deploy-check` renders the manifests with `kubectl kustomize` ' +
          "(kubectl >= 1.21 for kustomize components; .ci/run installs Debian's kubernetes-client)",
      );
    }
    throw new Error(
      `kubectl kustomize deploy/overlays/${overlay} failed: ${(e.stderr ?? e.message).trim()}\n` +
        `kustomize components and labels need kubectl >= 1.21 (Debian 12's kubernetes-client is 1.20); ` +
        `this one says: ${kubectlVersion()}`,
    );
  }
  return (loadAll(text) as Manifest[]).filter((m) => m !== null);
}

function kubectlVersion(): string {
  try {
    return execFileSync('kubectl', ['version', '--client'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
      .split('\n')[0]
      .trim();
  } catch (error) {
    return (error as Error).message;
  }
}

/** Which service a container runs: `rnas serve <kind>`. */
function kindOf(container: Manifest): Kind {
  const [verb, kind] = container.args as string[];
  expect(verb).toBe('serve');
  expect(Object.keys(SERVICE_ENDPOINTS)).toContain(kind);
  return kind as Kind;
}

const workloads = (all: Manifest[]): Manifest[] =>
  all.filter((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet');

const named = (all: Manifest[], kind: string, name: string): Manifest => {
  const found = all.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return found;
};

const labelsMatch = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The workloads whose pods a label selector picks (matchLabels only: the manifests use no expressions). */
function selected(all: Manifest[], selector: Manifest): string[] {
  expect(selector.matchExpressions).toBeUndefined();
  return workloads(all)
    .filter((w) => labelsMatch(selector.matchLabels ?? {}, w.spec.template.metadata.labels))
    .map((w) => w.metadata.name as string);
}

/** A Kubernetes CPU quantity ('2', '500m', 1.5) in cores. */
function cpuCores(quantity: unknown): number {
  const text = String(quantity);
  const n = text.endsWith('m') ? Number(text.slice(0, -1)) / 1000 : Number(text);
  if (!(n > 0)) throw new Error(`not a CPU quantity: ${JSON.stringify(quantity)}`);
  return n;
}

/** A container's environment as the kubelet gives it: the ConfigMaps of envFrom, then env. */
function environment(all: Manifest[], container: Manifest): Env {
  const env: Env = {};
  for (const from of (container.envFrom ?? []) as Manifest[]) {
    Object.assign(env, named(all, 'ConfigMap', from.configMapRef.name).data);
  }
  for (const { name, value, valueFrom } of (container.env ?? []) as Manifest[]) {
    // The downward API's CPU limit, as the kubelet resolves it with divisor 1 (rounded up).
    const cpu = valueFrom?.resourceFieldRef;
    env[name] =
      cpu === undefined
        ? value
        : String(
            Math.ceil(
              cpuCores(container.resources?.limits?.[String(cpu.resource).replace('limits.', '')]) /
                cpuCores(cpu.divisor ?? '1'),
            ),
          );
  }
  return env;
}

/** The mount a path of the container lies on (the longest mount path above it), if any. */
function mountOf(container: Manifest, dir: string): Manifest | undefined {
  return ((container.volumeMounts ?? []) as Manifest[])
    .filter((m) => !path.posix.relative(m.mountPath, dir).startsWith('..'))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
}

/** The claim behind a volume of a workload's pod (a volume or a StatefulSet's claim template). */
function claimOf(workload: Manifest, volume: string): string | undefined {
  const declared = (workload.spec.template.spec.volumes ?? []).find((v: Manifest) => v.name === volume);
  if (declared) return declared.persistentVolumeClaim?.claimName;
  const template = (workload.spec.volumeClaimTemplates ?? []).find(
    (t: Manifest) => t.metadata.name === volume,
  );
  return template ? `${template.metadata.name} (claim template of ${workload.metadata.name})` : undefined;
}

describe.each(OVERLAYS)('deploy/overlays/%s', (overlay) => {
  let all: Manifest[];
  let scratch: string;
  beforeAll(() => {
    all = render(overlay);
    scratch = mkdtempSync(path.join(tmpdir(), 'rnas-deploy-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** A container's configuration through its service's loader (data roots exist in the pod only). */
  function configOf(container: Manifest): Record<string, any> {
    const env = environment(all, container);
    return SERVICES[kindOf(container)].load({ ...env, RNAS_DATA_ROOT: scratch });
  }

  it('gives every container gRPC health probes on the port its Services name', () => {
    const services = all.filter((m) => m.kind === 'Service');
    expect(workloads(all).length).toBe(4);
    for (const workload of workloads(all)) {
      const pod = workload.spec.template;
      expect(labelsMatch(workload.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
      for (const container of pod.spec.containers as Manifest[]) {
        const endpoint = SERVICE_ENDPOINTS[kindOf(container)];
        const ports = Object.fromEntries(
          (container.ports as Manifest[]).map((p) => [p.name, p.containerPort]),
        );
        expect(ports).toEqual({ grpc: endpoint.port, metrics: endpoint.metricsPort });
        expect(container.readinessProbe.grpc).toEqual({ port: endpoint.port, service: endpoint.service });
        expect(container.livenessProbe.grpc).toEqual({ port: endpoint.port });
        expect(container.startupProbe.grpc).toEqual({ port: endpoint.port });
        const fronting = services.filter((s) => labelsMatch(s.spec.selector, pod.metadata.labels));
        expect(fronting.length).toBeGreaterThan(0);
        for (const service of fronting) {
          const byName = Object.fromEntries((service.spec.ports as Manifest[]).map((p) => [p.name, p]));
          expect(byName.grpc).toMatchObject({ port: endpoint.port, targetPort: 'grpc' });
          expect(byName.metrics).toMatchObject({ port: endpoint.metricsPort, targetPort: 'metrics' });
        }
      }
    }
  });

  it("runs node from the image's entrypoint as the container's process, so SIGTERM drains it", () => {
    for (const workload of workloads(all)) {
      for (const container of workload.spec.template.spec.containers as Manifest[]) {
        // No command of its own: the image's exec-form ENTRYPOINT (node .../rnas.js, checked
        // below) is PID 1. A shell, npm or npx in between would not pass the kubelet's SIGTERM on.
        expect({ container: container.name, command: container.command }).toEqual({
          container: container.name,
          command: undefined,
        });
        expect(container.args).toEqual(['serve', kindOf(container)]);
      }
    }
  });

  it('configures the services with values they accept, and points them at each other', () => {
    const config = named(all, 'ConfigMap', 'rnas-config').data as Env;
    // Every variable of the ConfigMap is one some service reads, and every one a container gets
    // on its own is one its service reads: a misspelt name would be ignored without a word.
    const known = new Set(Object.keys(SERVICES).flatMap((kind) => variablesOf(kind as Kind)));
    expect(Object.keys(config).filter((name) => !known.has(name))).toEqual([]);
    for (const workload of workloads(all)) {
      for (const container of workload.spec.template.spec.containers as Manifest[]) {
        expect(container.envFrom).toEqual([{ configMapRef: { name: 'rnas-config' } }]);
        const own = ((container.env ?? []) as Manifest[]).map((e) => e.name as string);
        const variables = variablesOf(kindOf(container));
        expect(own.filter((name) => name.startsWith('RNAS_') && !variables.includes(name))).toEqual([]);
        const loaded = configOf(container);
        expect(loaded.host).toBe('0.0.0.0');
        expect(loaded.port).toBe(SERVICE_ENDPOINTS[kindOf(container)].port);
        expect(loaded.metricsPort).toBe(SERVICE_ENDPOINTS[kindOf(container)].metricsPort);
        // The kubelet's SIGKILL comes after terminationGracePeriodSeconds: the drain fits before it.
        expect(loaded.shutdownGraceMs).toBeLessThan(
          (workload.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000,
        );
      }
    }
    // The search's evaluators: the headless Service of the evaluator pods, on the training port.
    const search = configOf(named(all, 'StatefulSet', 'rnas-search').spec.template.spec.containers[0]);
    expect(search.evaluators).toEqual([`dns:///rnas-training-headless:${SERVICE_ENDPOINTS.training.port}`]);
    const headless = named(all, 'Service', 'rnas-training-headless');
    expect(headless.spec.clusterIP).toBe('None');
    expect(selected(all, { matchLabels: headless.spec.selector })).toEqual(['rnas-evaluator']);
    // Training (and the evaluators) ask the search Service for searches.
    for (const [kind, name] of [
      ['StatefulSet', 'rnas-training'],
      ['Deployment', 'rnas-evaluator'],
    ]) {
      const training = configOf(named(all, kind, name).spec.template.spec.containers[0]);
      expect(training.searchAddr).toBe(`rnas-search:${SERVICE_ENDPOINTS.search.port}`);
    }
    expect(named(all, 'Service', 'rnas-search').spec.ports[0].port).toBe(SERVICE_ENDPOINTS.search.port);
  });

  it('tells every container its CPU limit (RNAS_CPUS), so that its wasm engines divide those cores', () => {
    for (const workload of workloads(all)) {
      for (const container of workload.spec.template.spec.containers as Manifest[]) {
        const env = environment(all, container);
        const limit = Math.ceil(cpuCores(container.resources.limits.cpu));
        expect(env.RNAS_CPUS).toBe(String(limit));
        expect(availableCores(env)).toBe(limit);
        expect(wasmThreadsPerEngine(1, env)).toBe(Math.min(8, limit));
      }
    }
  });

  it('keeps every directory a service writes on a volume, and shares only the model repository', () => {
    for (const workload of workloads(all)) {
      for (const container of workload.spec.template.spec.containers as Manifest[]) {
        const kind = kindOf(container);
        const loaded = configOf(container);
        // The root filesystem is read-only: what a service writes (its state; training's models)
        // lives on volumes, and what it reads (datasets; inference's models) is mounted.
        const writes = {
          search: [loaded.stateDir],
          training: [loaded.stateDir, loaded.modelRepo],
          inference: [],
        }[kind];
        for (const dir of writes) {
          const mount = mountOf(container, dir);
          expect({
            container: container.name,
            dir,
            mounted: mount !== undefined,
            readOnly: mount?.readOnly === true,
          }).toEqual({ container: container.name, dir, mounted: true, readOnly: false });
        }
        // The data roots as the pod has them (configOf put a directory of this machine in their place).
        const dataRoots = environment(all, container).RNAS_DATA_ROOT.split(':');
        const reads = kind === 'inference' ? [loaded.modelRepo] : dataRoots;
        for (const dir of reads) {
          const mounted = mountOf(container, dir) !== undefined;
          expect({ container: container.name, dir, mounted }).toEqual({
            container: container.name,
            dir,
            mounted: true,
          });
        }
      }
    }
    // Training publishes to the claim inference serves from, which both mount at once.
    const modelClaim = (name: string, kind: string): string | undefined => {
      const workload = named(all, kind, name);
      const container = workload.spec.template.spec.containers[0];
      const mount = mountOf(container, configOf(container).modelRepo);
      return mount && claimOf(workload, mount.name);
    };
    expect(modelClaim('rnas-training', 'StatefulSet')).toBe('rnas-models');
    expect(modelClaim('rnas-inference', 'Deployment')).toBe('rnas-models');
    expect(named(all, 'PersistentVolumeClaim', 'rnas-models').spec.accessModes).toEqual(['ReadWriteMany']);
    // The search's and the training jobs' state is each their own.
    expect(claimOf(named(all, 'StatefulSet', 'rnas-search'), 'state')).toMatch(/of rnas-search\)$/);
    expect(claimOf(named(all, 'StatefulSet', 'rnas-training'), 'state')).toMatch(/of rnas-training\)$/);
  });

  it('runs the image of this version, as nobody but an unprivileged user, with bounded resources', () => {
    const image = overlay.startsWith('gpu') ? `rnas-gpu:${VERSION}` : `rnas:${VERSION}`;
    for (const workload of workloads(all)) {
      const pod = workload.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const container of pod.containers as Manifest[]) {
        expect(container.image).toBe(image);
        expect(container.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        expect(container.securityContext.runAsUser ?? pod.securityContext.runAsUser).not.toBe(0);
        expect(container.securityContext.privileged).toBeUndefined();
        // A read-only root needs a writable /tmp.
        const tmp = mountOf(container, '/tmp');
        expect(tmp?.mountPath).toBe('/tmp');
        expect(pod.volumes.find((v: Manifest) => v.name === tmp?.name)?.emptyDir).toBeDefined();
        expect(container.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
        expect(container.resources.limits).toMatchObject({
          cpu: expect.any(String),
          memory: expect.any(String),
        });
      }
    }
  });

  it(`asks for a GPU ${overlay.startsWith('gpu') ? 'for training, the evaluators and inference' : 'nowhere'}`, () => {
    for (const workload of workloads(all)) {
      const pod = workload.spec.template.spec;
      const gpus = (pod.containers as Manifest[]).map(
        (c) => c.resources.limits['nvidia.com/gpu'] as number | undefined,
      );
      const wants = overlay.startsWith('gpu') && workload.metadata.name !== 'rnas-search';
      expect(gpus).toEqual(gpus.map(() => (wants ? 1 : undefined)));
      if (wants) {
        expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
        expect(pod.tolerations).toContainEqual({
          key: 'nvidia.com/gpu',
          operator: 'Exists',
          effect: 'NoSchedule',
        });
      } else {
        expect(pod.tolerations).toBeUndefined();
      }
    }
    if (overlay.startsWith('gpu')) {
      // The search runs the CUDA image without a GPU: it must not see the node's GPUs.
      const search = named(all, 'StatefulSet', 'rnas-search').spec.template.spec.containers[0];
      expect(environment(all, search)).toMatchObject({
        NVIDIA_VISIBLE_DEVICES: 'void',
        RNAS_BACKEND: 'auto',
      });
    }
  });

  it("lets only the search service reach the evaluators' gRPC port, and clients reach training", () => {
    const port = SERVICE_ENDPOINTS.training.port;
    const policies = all.filter((m) => m.kind === 'NetworkPolicy');
    const guarding = policies.filter((p) => selected(all, p.spec.podSelector).includes('rnas-evaluator'));
    expect(guarding.length).toBeGreaterThan(0);
    for (const policy of guarding) {
      expect(policy.spec.policyTypes).toContain('Ingress');
      // A rule without ports opens every port, the gRPC one too.
      const opening = (policy.spec.ingress as Manifest[]).filter(
        (rule) => rule.ports === undefined || (rule.ports as Manifest[]).some((p) => p.port === port),
      );
      expect(opening.length).toBeGreaterThan(0);
      for (const rule of opening) {
        // No `from` is anyone; a namespace or address peer is more than the search's pods.
        expect(rule.from?.length).toBeGreaterThan(0);
        for (const peer of rule.from as Manifest[]) {
          expect(Object.keys(peer)).toEqual(['podSelector']);
          expect(selected(all, peer.podSelector)).toEqual(['rnas-search']);
        }
      }
    }
    // The training StatefulSet behind rnas-training is the one clients call (StartTraining): no
    // policy closes it.
    expect(policies.filter((p) => selected(all, p.spec.podSelector).includes('rnas-training'))).toEqual([]);
  });

  it('keeps inference available through disruptions and scales inference and the evaluators', () => {
    const pdb = named(all, 'PodDisruptionBudget', 'rnas-inference');
    expect(selected(all, pdb.spec.selector)).toEqual(['rnas-inference']);
    const scaled = all
      .filter((m) => m.kind === 'HorizontalPodAutoscaler')
      .map((m) => m.spec.scaleTargetRef.name);
    expect(scaled.sort()).toEqual(['rnas-evaluator', 'rnas-inference']);
    // A budget as large as the smallest replica count would block every drain of a node.
    expect(pdb.spec.minAvailable).toBeLessThan(
      named(all, 'HorizontalPodAutoscaler', 'rnas-inference').spec.minReplicas,
    );
  });

  if (overlay.endsWith('prometheus')) {
    it('is found by Prometheus: a ServiceMonitor on the metrics ports, and scrape annotations', () => {
      const monitor = named(all, 'ServiceMonitor', 'rnas');
      expect(monitor.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s' }]);
      const [expression] = monitor.spec.selector.matchExpressions as Manifest[];
      expect(expression).toMatchObject({ key: 'app.kubernetes.io/name', operator: 'In' });
      for (const service of all.filter((m) => m.kind === 'Service')) {
        const scraped = (expression.values as string[]).includes(
          service.metadata.labels['app.kubernetes.io/name'],
        );
        const hasMetrics = (service.spec.ports as Manifest[]).some((p) => p.name === 'metrics');
        expect({ service: service.metadata.name, scraped }).toEqual({
          service: service.metadata.name,
          scraped: hasMetrics,
        });
      }
      for (const workload of workloads(all)) {
        const pod = workload.spec.template;
        const kind = kindOf(pod.spec.containers[0]);
        expect(pod.metadata.annotations).toEqual({
          'prometheus.io/scrape': 'true',
          'prometheus.io/port': String(SERVICE_ENDPOINTS[kind].metricsPort),
          'prometheus.io/path': '/metrics',
        });
      }
    });
  }
});

/** A Dockerfile's instructions: comments dropped, continuation lines joined. */
function dockerfile(file: string): { op: string; args: string }[] {
  const text = readFileSync(path.join(ROOT, 'deploy', file), 'utf8');
  return text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const [op] = line.split(/\s/, 1);
      return { op: op.toUpperCase(), args: line.slice(op.length).trim() };
    });
}

/** The instructions of the last stage (the image). */
const finalStage = (steps: { op: string; args: string }[]) =>
  steps.slice(steps.map((s) => s.op).lastIndexOf('FROM'));

/** `ENV A=1 B=2` of a stage. */
const envOf = (steps: { op: string; args: string }[]): Env =>
  Object.fromEntries(
    steps
      .filter((s) => s.op === 'ENV')
      .flatMap((s) => s.args.split(/\s+/))
      .map((pair) => pair.split('=', 2) as [string, string]),
  );

describe.each(['Dockerfile', 'Dockerfile.gpu'])('deploy/%s', (file) => {
  const steps = dockerfile(file);
  const image = finalStage(steps);

  it('compiles in a builder stage and keeps the production dependencies only', () => {
    expect(steps.filter((s) => s.op === 'FROM').length).toBeGreaterThan(1);
    const build = steps
      .slice(0, steps.indexOf(image[0]))
      .filter((s) => s.op === 'RUN')
      .map((s) => s.args);
    expect(build.join('\n')).toMatch(/npx tsc -b[\s\S]*npm ci --omit=dev/);
    // Nothing after the builder installs the dev dependencies again.
    for (const install of build.join('\n').match(/npm install [^&]*/g) ?? [])
      expect(install).toContain('--omit=dev');
    expect(image.filter((s) => s.op === 'COPY').map((s) => s.args)).toContain(
      '--from=build --chown=root:root /app /app',
    );
  });

  it('starts `rnas serve <service>` with node as PID 1 (exec form), as a user other than root', () => {
    const bin = readJson<{ bin: { rnas: string } }>('services/cli/package.json').bin.rnas;
    const entrypoint = image.filter((s) => s.op === 'ENTRYPOINT').map((s) => JSON.parse(s.args));
    expect(entrypoint).toEqual([['node', path.posix.join('/app/services/cli', bin)]]);
    const [command] = image.filter((s) => s.op === 'CMD').map((s) => JSON.parse(s.args) as string[]);
    expect(command).toEqual(['serve', command[1]]);
    expect(Object.keys(SERVICE_ENDPOINTS)).toContain(command[1]);
    // Nothing else can become PID 1 or stand between the runtime and node: no shell form, no npm.
    for (const step of image.filter((s) => s.op === 'ENTRYPOINT' || s.op === 'CMD')) {
      expect(step.args.startsWith('[')).toBe(true);
      expect(step.args).not.toMatch(/\b(npx|npm|sh|bash)\b/);
    }
    expect(image.some((s) => s.op === 'SHELL')).toBe(false);
    const user = image
      .filter((s) => s.op === 'USER')
      .at(-1)
      ?.args.split(':')[0];
    expect(user).toMatch(/^[1-9]\d*$/);
    expect(envOf(image).RNAS_HOST).toBe('0.0.0.0');
    const exposed = image.filter((s) => s.op === 'EXPOSE').flatMap((s) => s.args.split(/\s+/).map(Number));
    const ports = Object.values(SERVICE_ENDPOINTS).flatMap((e) => [e.port, e.metricsPort]);
    expect(exposed.sort()).toEqual(ports.sort());
  });

  if (file === 'Dockerfile.gpu') {
    it("adds tfjs-node-gpu of the workspace's tfjs version on CUDA 11.2 and cuDNN 8", () => {
      const lock = readJson<{ packages: Record<string, { version: string }> }>('package-lock.json');
      const core = lock.packages['node_modules/@tensorflow/tfjs-core'].version;
      const runs = steps
        .filter((s) => s.op === 'RUN')
        .map((s) => s.args)
        .join('\n');
      expect(runs).toContain(`@tensorflow/tfjs-node-gpu@${core}`);
      const base = steps.find((s) => s.op === 'ARG' && s.args.startsWith('CUDA_IMAGE='))?.args;
      expect(base).toMatch(/^CUDA_IMAGE=nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-/);
      expect(image[0].args).toBe('${CUDA_IMAGE}');
      expect(envOf(image)).toMatchObject({
        RNAS_BACKEND: 'tensorflow-gpu',
        TF_FORCE_GPU_ALLOW_GROWTH: 'true',
      });
    });
  }
});
