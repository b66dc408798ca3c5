// Container images with no registry and no Docker: each is a folder made from files
// on this machine (the host's Node runtime and its shared libraries, Debian's
// redis-server and static busybox, our pause binary, the project's build output),
// packed as a Docker image archive that containerd imports under the name the chart
// uses. Archives are cached by a hash of everything that goes into them, so a warm
// run only hashes its inputs.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { run } from './exec.js';
import { bin, cacheDir, repoDir } from './paths.js';

/** The final stage of a Dockerfile, as far as an image's config is concerned. */
export interface DockerfileConfig {
  user?: string;
  workdir?: string;
  entrypoint?: string[];
  cmd?: string[];
  env: Record<string, string>;
  exposed: string[];
}

/** Reads USER, WORKDIR, ENTRYPOINT, CMD, ENV and EXPOSE of the last stage (exec-form JSON only). */
export function parseDockerfile(text: string): DockerfileConfig {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  let config: DockerfileConfig = { env: {}, exposed: [] };
  for (const line of lines) {
    const match = /^(\w+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const instruction = match[1]!.toUpperCase();
    const rest = match[2]!.trim();
    switch (instruction) {
      case 'FROM':
        config = { env: {}, exposed: [] };
        break;
      case 'USER':
        config.user = rest;
        break;
      case 'WORKDIR':
        config.workdir = rest;
        break;
      case 'ENTRYPOINT':
        config.entrypoint = execForm(rest, instruction);
        break;
      case 'CMD':
        config.cmd = execForm(rest, instruction);
        break;
      case 'ENV': {
        for (const pair of rest.split(/\s+/)) {
          const eq = pair.indexOf('=');
          if (eq > 0) config.env[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
        break;
      }
      case 'EXPOSE':
        config.exposed.push(
          ...rest.split(/\s+/).map((port) => (port.includes('/') ? port : `${port}/tcp`)),
        );
        break;
      default:
    }
  }
  return config;
}

function execForm(value: string, instruction: string): string[] {
  const parsed: unknown = JSON.parse(value);
  if (!Array.isArray(parsed) || !parsed.every((part) => typeof part === 'string')) {
    throw new Error(`Dockerfile ${instruction} must be in exec (JSON array) form: ${value}`);
  }
  return parsed;
}

/** What the node needs, under the names the chart and the tests use. */
export const IMAGE_NAMES = {
  /** The project's image: `ghcr.io/kaos-tools/kaos-memory:<appVersion>`. */
  app: () => `ghcr.io/kaos-tools/kaos-memory:${chartAppVersion()}`,
  /** The chart's bundled Redis (values.yaml redis.image), made from Debian's redis-server. */
  redis: () => {
    const values = readFileSync(join(repoDir, 'charts/kaos-memory/values.yaml'), 'utf8');
    const block = values.slice(values.indexOf('\nredis:'));
    const repository = /\n\s+repository:\s*(\S+)/.exec(block)?.[1];
    const tag = /\n\s+tag:\s*(\S+)/.exec(block)?.[1];
    if (!repository || !tag)
      throw new Error('charts/kaos-memory/values.yaml: redis.image not found');
    return `${repository}:${tag.replace(/^['"]|['"]$/g, '')}`;
  },
  /** Debian's busybox 1.35 (static), for test agents: sh, wget, nc, sleep. */
  busybox: () => 'docker.io/library/busybox:1.35',
  /** The sandbox image containerd's CRI starts first in every pod. */
  pause: () => 'localhost/kaos-memory/pause:local',
} as const;

export function chartAppVersion(): string {
  const chart = readFileSync(join(repoDir, 'charts/kaos-memory/Chart.yaml'), 'utf8');
  const version = /^appVersion:\s*['"]?([^'"\s]+)['"]?\s*$/m.exec(chart)?.[1];
  if (!version) throw new Error('charts/kaos-memory/Chart.yaml: no appVersion');
  return version;
}

export interface BuiltImage {
  name: string;
  /** A Docker image archive (`docker save` format), ready for `ctr images import`. */
  archive: string;
  /** sha256 of the image config, as containerd reports it after import. */
  configDigest: string;
  /** True when the archive came from the cache. */
  cached: boolean;
}

interface ImageConfig {
  Env: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
}

interface Layer {
  /** Fills `root` with this layer's files. */
  fill(root: string): Promise<void> | void;
  /** Everything that decides the layer's bytes, for the cache key. */
  key(): Promise<string>;
}

interface ImageRecipe {
  name: string;
  layers: Layer[];
  config: ImageConfig;
}

const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const BUSYBOX = '/bin/busybox';

/** The four images the node imports. The app image needs `npm run build` output in dist/. */
export function recipes(): ImageRecipe[] {
  const dockerfile = parseDockerfile(readFileSync(join(repoDir, 'Dockerfile'), 'utf8'));
  const redisServer = realpathSync('/usr/bin/redis-server');
  return [
    {
      name: IMAGE_NAMES.app(),
      layers: [
        rootfsLayer({
          files: [{ src: process.execPath, dest: '/usr/local/bin/node' }],
          busybox: true,
          users: ['node:x:1000:1000::/home/node:/bin/sh'],
          dirs: ['/app', '/home/node'],
        }),
        appLayer(),
      ],
      config: {
        Env: [PATH, ...Object.entries(dockerfile.env).map(([k, v]) => `${k}=${v}`)],
        ...(dockerfile.entrypoint && { Entrypoint: dockerfile.entrypoint }),
        ...(dockerfile.cmd && { Cmd: dockerfile.cmd }),
        ...(dockerfile.workdir && { WorkingDir: dockerfile.workdir }),
        ...(dockerfile.user && { User: dockerfile.user }),
        ExposedPorts: Object.fromEntries(dockerfile.exposed.map((port) => [port, {}])),
      },
    },
    {
      name: IMAGE_NAMES.redis(),
      layers: [
        rootfsLayer({
          files: [
            { src: redisServer, dest: '/usr/bin/redis-server' },
            { src: '/usr/bin/redis-cli', dest: '/usr/bin/redis-cli' },
          ],
          busybox: true,
          users: ['redis:x:999:999::/data:/bin/sh'],
          dirs: ['/data'],
        }),
      ],
      config: {
        Env: [PATH],
        Cmd: ['redis-server'],
        WorkingDir: '/data',
        ExposedPorts: { '6379/tcp': {} },
      },
    },
    {
      name: IMAGE_NAMES.busybox(),
      layers: [rootfsLayer({ files: [], busybox: true, users: [], dirs: [] })],
      config: { Env: [PATH], Cmd: ['sh'] },
    },
    {
      name: IMAGE_NAMES.pause(),
      layers: [
        {
          fill: (root) => copyInto(root, bin('pause'), '/pause'),
          key: () => fileHash(bin('pause')),
        },
      ],
      config: { Env: [PATH], Entrypoint: ['/pause'], User: '65535:65535' },
    },
  ];
}

/**
 * A minimal Debian-like root: the given binaries with the shared libraries they load
 * (from ldd, at the same paths), busybox's applets in /usr/bin, merged-/usr links,
 * /etc/passwd and /etc/group, and an open /tmp.
 */
function rootfsLayer(spec: {
  files: { src: string; dest: string }[];
  busybox: boolean;
  users: string[];
  dirs: string[];
}): Layer {
  const binaries = () => [...spec.files.map((f) => f.src), ...(spec.busybox ? [BUSYBOX] : [])];
  return {
    async key() {
      const libs = await sharedLibraries(binaries());
      const hashes = await Promise.all([...binaries(), ...libs].map(fileHash));
      return JSON.stringify({ spec, libs, hashes });
    },
    async fill(root) {
      for (const dir of [
        'usr/bin',
        'usr/sbin',
        'usr/lib',
        'usr/lib64',
        'usr/local/bin',
        'etc',
        'tmp',
        'proc',
        'sys',
        'dev',
        'root',
        'var/run',
      ]) {
        mkdirSync(join(root, dir), { recursive: true });
      }
      for (const link of ['bin', 'sbin', 'lib', 'lib64'])
        symlinkSync(`usr/${link}`, join(root, link));
      chmodSync(join(root, 'tmp'), 0o1777);
      for (const dir of spec.dirs) mkdirSync(join(root, dir), { recursive: true });
      for (const file of spec.files) copyInto(root, file.src, file.dest);
      for (const lib of await sharedLibraries(binaries()))
        copyInto(root, lib, canonicalLibPath(lib));
      if (spec.busybox) {
        copyInto(root, BUSYBOX, '/usr/bin/busybox');
        const applets = (await run(BUSYBOX, ['--list'])).split('\n').filter(Boolean);
        for (const applet of applets) {
          const target = join(root, 'usr/bin', applet);
          if (!existsSync(target)) symlinkSync('busybox', target);
        }
      }
      const users = [
        'root:x:0:0:root:/root:/bin/sh',
        ...spec.users,
        'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
      ];
      writeFileSync(join(root, 'etc/passwd'), users.join('\n') + '\n');
      const groups = users.map((line) => {
        const [name, , , gid] = line.split(':');
        return `${name}:x:${gid}:`;
      });
      writeFileSync(join(root, 'etc/group'), groups.join('\n') + '\n');
      for (const file of ['hosts', 'resolv.conf', 'hostname'])
        writeFileSync(join(root, 'etc', file), '');
      writeFileSync(
        join(root, 'etc/nsswitch.conf'),
        'passwd: files\ngroup: files\nhosts: files dns\n',
      );
    },
  };
}

const DIST = join(repoDir, 'dist');

function requireBuild(): void {
  if (!existsSync(join(DIST, 'cli/main.js'))) {
    throw new Error('dist/cli/main.js not found: run `npm run build` before building the images');
  }
}

/**
 * /app as the Dockerfile's final stage has it, made at `app`: package.json, production
 * node_modules (`npm ci --omit=dev`, made once per lockfile) and dist from `npm run build`.
 */
export async function productionApp(app: string): Promise<void> {
  requireBuild();
  mkdirSync(app, { recursive: true });
  copyFileSync(join(repoDir, 'package.json'), join(app, 'package.json'));
  await run('cp', ['-a', await productionModules(), join(app, 'node_modules')]);
  await run('cp', ['-a', DIST, join(app, 'dist')]);
}

/** The project image's /app layer (productionApp), keyed by what goes into it. */
function appLayer(): Layer {
  return {
    async key() {
      requireBuild();
      // Not the bundle's V8 code cache: its bytes differ from build to build, and what
      // decides it (the bundle, node's version, the injected flags in dist/lib) is keyed.
      const files = walk(DIST).filter((f) => !f.endsWith('.cjs.cache'));
      const inputs = [join(repoDir, 'package.json'), join(repoDir, 'package-lock.json'), ...files];
      return JSON.stringify({
        files: files.map((f) => relative(repoDir, f)),
        hashes: await Promise.all(inputs.map(fileHash)),
        node: process.version,
      });
    },
    fill: (root) => productionApp(join(root, 'app')),
  };
}

/** `npm ci --omit=dev` of the lockfile, made once per lockfile from npm's local cache. */
async function productionModules(): Promise<string> {
  const lockText = readFileSync(join(repoDir, 'package-lock.json'));
  const key = createHash('sha256')
    .update(lockText)
    .update(readFileSync(join(repoDir, 'package.json')))
    .update(process.version)
    .digest('hex')
    .slice(0, 16);
  const dir = join(imagesDir(), `prod-modules-${key}`);
  if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules');
  const tmp = mkdtempSync(join(imagesDir(), '.prod-'));
  try {
    copyFileSync(join(repoDir, 'package.json'), join(tmp, 'package.json'));
    copyFileSync(join(repoDir, 'package-lock.json'), join(tmp, 'package-lock.json'));
    await run(
      'npm',
      ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'],
      {
        cwd: tmp,
      },
    );
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return join(dir, 'node_modules');
}

/** The images' cache folder, made if absent: the image test may use it before any image was built. */
function imagesDir(): string {
  const dir = join(cacheDir(), 'images');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface BuildOptions {
  log?: (line: string) => void;
}

/** Builds (or finds in the cache) every image's archive. */
export async function buildImages(options: BuildOptions = {}): Promise<BuiltImage[]> {
  const dir = imagesDir();
  const built: BuiltImage[] = [];
  for (const recipe of recipes()) built.push(await buildImage(recipe, dir, options));
  return built;
}

const BUILDER_VERSION = '1';

async function buildImage(
  recipe: ImageRecipe,
  dir: string,
  options: BuildOptions,
): Promise<BuiltImage> {
  const keys = await Promise.all(recipe.layers.map((layer) => layer.key()));
  const key = createHash('sha256')
    .update(JSON.stringify({ v: BUILDER_VERSION, name: recipe.name, config: recipe.config, keys }))
    .digest('hex')
    .slice(0, 24);
  const slug = recipe.name.replace(/[^a-zA-Z0-9.-]+/g, '_');
  const archive = join(dir, `${slug}-${key}.tar`);
  const digestFile = `${archive}.config-digest`;
  if (existsSync(archive) && existsSync(digestFile)) {
    return {
      name: recipe.name,
      archive,
      configDigest: readFileSync(digestFile, 'utf8').trim(),
      cached: true,
    };
  }
  const began = Date.now();
  options.log?.(`building image ${recipe.name}`);
  const work = mkdtempSync(join(dir, '.build-'));
  try {
    const out = join(work, 'archive');
    mkdirSync(out);
    const diffIds: string[] = [];
    const layerPaths: string[] = [];
    for (const [index, layer] of recipe.layers.entries()) {
      const root = join(work, `layer${index}`);
      mkdirSync(root);
      await layer.fill(root);
      const tarPath = join(work, `layer${index}.tar`);
      await run('tar', [
        '--create',
        `--file=${tarPath}`,
        `--directory=${root}`,
        '--sort=name',
        '--mtime=@0',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '--format=posix',
        '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
        ...readdirSync(root).sort(),
      ]);
      const digest = await fileHash(tarPath);
      mkdirSync(join(out, digest));
      renameSync(tarPath, join(out, digest, 'layer.tar'));
      diffIds.push(`sha256:${digest}`);
      layerPaths.push(`${digest}/layer.tar`);
      rmSync(root, { recursive: true, force: true });
    }
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '1970-01-01T00:00:00Z',
      config: recipe.config,
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({
        created: '1970-01-01T00:00:00Z',
        created_by: 'kaos-memory harness/node/images.ts',
      })),
    });
    const configDigest = createHash('sha256').update(config).digest('hex');
    writeFileSync(join(out, `${configDigest}.json`), config);
    writeFileSync(
      join(out, 'manifest.json'),
      JSON.stringify([
        { Config: `${configDigest}.json`, RepoTags: [recipe.name], Layers: layerPaths },
      ]),
    );
    const tmpArchive = join(work, 'image.tar');
    await run('tar', [
      '--create',
      `--file=${tmpArchive}`,
      `--directory=${out}`,
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '.',
    ]);
    // Older archives of this image are stale now.
    for (const old of readdirSync(dir)) {
      if (old.startsWith(`${slug}-`)) rmSync(join(dir, old), { force: true });
    }
    renameSync(tmpArchive, archive);
    writeFileSync(digestFile, `sha256:${configDigest}\n`);
    const mb = (statSync(archive).size / 1e6).toFixed(0);
    options.log?.(
      `built image ${recipe.name} (${mb} MB) in ${((Date.now() - began) / 1000).toFixed(1)}s`,
    );
    return { name: recipe.name, archive, configDigest: `sha256:${configDigest}`, cached: false };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The image config inside an archive, for tests. */
export async function archiveConfig(archive: string): Promise<{ config: ImageConfig }> {
  const manifest = JSON.parse(
    await run('tar', ['--extract', '--to-stdout', `--file=${archive}`, './manifest.json']),
  ) as {
    Config: string;
  }[];
  const name = manifest[0]!.Config;
  return JSON.parse(
    await run('tar', ['--extract', '--to-stdout', `--file=${archive}`, `./${name}`]),
  ) as {
    config: ImageConfig;
  };
}

/** The shared libraries `binaries` load, resolved to real files, from ldd. */
async function sharedLibraries(binaries: string[]): Promise<string[]> {
  const libs = new Set<string>();
  for (const binary of binaries) {
    let out: string;
    try {
      out = await run('ldd', [binary]);
    } catch (err) {
      // A static binary: ldd says "not a dynamic executable" and exits 1.
      if (String(err).includes('not a dynamic executable')) continue;
      throw err;
    }
    for (const line of out.split('\n')) {
      const path = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line)?.[1];
      if (path) libs.add(path);
    }
  }
  return [...libs].sort();
}

/** /lib/x86_64-linux-gnu/libc.so.6 → /usr/lib/x86_64-linux-gnu/libc.so.6 (merged /usr). */
function canonicalLibPath(path: string): string {
  return path.replace(/^\/(lib|lib64)\//, '/usr/$1/');
}

function copyInto(root: string, src: string, dest: string): void {
  const target = join(root, dest);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(realpathSync(src), target);
  chmodSync(target, statSync(realpathSync(src)).mode & 0o7777);
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (lstatSync(path).isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

const hashCache = new Map<string, { mtimeMs: number; size: number; hash: string }>();

/** sha256 of a file's bytes (memoised per process by path, size and mtime). */
export async function fileHash(path: string): Promise<string> {
  const real = realpathSync(path);
  const st = statSync(real);
  const hit = hashCache.get(real);
  if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.hash;
  const hash = await new Promise<string>((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(real)
      .on('data', (chunk) => h.update(chunk))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
  hashCache.set(real, { mtimeMs: st.mtimeMs, size: st.size, hash });
  return hash;
}
