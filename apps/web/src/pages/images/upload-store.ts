import { Upload, defaultOptions, type PreviousUpload } from 'tus-js-client';
import type { Problem } from '@ggnet/contracts';
import { auth } from '../../api/client';

export const UPLOAD_ENDPOINT = '/api/v1/uploads';

export interface UploadItem {
  key: string;
  filename: string;
  name: string;
  size: number;
  bytesUploaded: number;
  /** Smoothed bytes per second. */
  speed: number;
  state: 'uploading' | 'paused' | 'done' | 'error';
  error: string | null;
  resumed: boolean;
  /** The image the upload creates (the tus upload id is the image id). */
  imageId: string | null;
}

/** Image id from a tus upload URL (`/api/v1/uploads/<image id>`). */
export function imageIdFromUploadUrl(url: string | null): string | null {
  const id = url?.split('?')[0]?.split('/').filter(Boolean).pop();
  return id && /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : null;
}

/** Image name from a file name: "Win11 LAN (v2).vhdx" -> "Win11 LAN (v2)", invalid characters replaced. */
export function imageNameFromFile(filename: string): string {
  const base = filename.replace(/\.(vhdx|vhd|vmdk|qcow2|vdi|raw|img|iso)$/i, '');
  const cleaned = base.replace(/[^\p{L}\p{N} ._()+-]/gu, '-').replace(/^[^\p{L}\p{N}]+/u, '');
  return (cleaned || 'image').slice(0, 100);
}

/** The OS of an image guessed from its file name (the admin can change it afterwards). */
export function osTypeFromFile(filename: string): 'windows' | 'linux' | 'other' {
  if (/win|windows|w10|w11|server20\d\d/i.test(filename)) return 'windows';
  if (/linux|ubuntu|debian|fedora|arch|mint|suse|centos|rocky|alma|alpine|steamos/i.test(filename))
    return 'linux';
  return 'windows';
}

/** Speed as an exponential moving average, so that the ETA does not jump with every chunk. */
export function nextSpeed(prev: number, bytes: number, ms: number): number {
  if (ms <= 0) return prev;
  const inst = (bytes * 1000) / ms;
  return prev ? prev * 0.8 + inst * 0.2 : inst;
}

type Listener = () => void;

/**
 * Uploads live outside any page so that they go on while the user looks at other pages. tus keeps
 * each upload's URL in localStorage; after a reload the same file dropped again resumes at the
 * offset the server has.
 */
class UploadStore {
  private items: UploadItem[] = [];
  private readonly uploads = new Map<string, Upload>();
  private readonly listeners = new Set<Listener>();
  private seq = 0;

  subscribe = (fn: Listener) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };
  get = () => this.items;

  private update(key: string, patch: Partial<UploadItem>) {
    this.items = this.items.map((u) => (u.key === key ? { ...u, ...patch } : u));
    for (const l of this.listeners) l();
  }

  async add(file: File, onDone: () => void): Promise<void> {
    const key = `u${++this.seq}`;
    const name = imageNameFromFile(file.name);
    let last = { t: performance.now(), bytes: 0 };
    const upload = new Upload(file, {
      endpoint: UPLOAD_ENDPOINT,
      chunkSize: 8 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      metadata: { filename: file.name, name, osType: osTypeFromFile(file.name) },
      removeFingerprintOnSuccess: true,
      onBeforeRequest: async (req) => {
        const token = await auth.accessToken();
        if (token) req.setHeader('Authorization', `Bearer ${token}`);
      },
      onShouldRetry: (err, attempt) => {
        const status = err.originalResponse?.getStatus() ?? 0;
        if (status === 401) return attempt < 2; // the next request carries a refreshed token
        return !(status >= 400 && status < 500) || status === 409 || status === 423;
      },
      onProgress: (sent, total) => {
        const t = performance.now();
        const item = this.items.find((u) => u.key === key);
        const speed =
          t - last.t > 250 ? nextSpeed(item?.speed ?? 0, sent - last.bytes, t - last.t) : (item?.speed ?? 0);
        if (t - last.t > 250) last = { t, bytes: sent };
        this.update(key, { bytesUploaded: sent, size: total, speed });
      },
      onUploadUrlAvailable: () => this.update(key, { imageId: imageIdFromUploadUrl(upload.url) }),
      onSuccess: () => {
        this.update(key, {
          state: 'done',
          bytesUploaded: file.size,
          imageId: imageIdFromUploadUrl(upload.url),
        });
        this.uploads.delete(key);
        onDone();
      },
      onError: (err) => {
        const res = (err as { originalResponse?: { getBody(): string } | null }).originalResponse;
        let message = err.message;
        try {
          const body = res ? (JSON.parse(res.getBody()) as Partial<Problem>) : null;
          if (body?.detail) message = body.hint ? `${body.detail} — ${body.hint}` : body.detail;
        } catch {
          // not problem+json: keep tus's message
        }
        this.update(key, { state: 'error', error: message });
      },
    });
    this.uploads.set(key, upload);
    const previous = await upload.findPreviousUploads();
    const resumed = previous.length > 0;
    if (resumed) upload.resumeFromPreviousUpload(previous[0]!);
    this.items = [
      {
        key,
        filename: file.name,
        name,
        size: file.size,
        bytesUploaded: 0,
        speed: 0,
        state: 'uploading',
        error: null,
        resumed,
        imageId: resumed ? imageIdFromUploadUrl(previous[0]!.uploadUrl) : null,
      },
      ...this.items,
    ];
    for (const l of this.listeners) l();
    last = { t: performance.now(), bytes: 0 };
    upload.start();
  }

  pause(key: string) {
    void this.uploads.get(key)?.abort();
    this.update(key, { state: 'paused', speed: 0 });
  }

  resume(key: string) {
    const u = this.uploads.get(key);
    if (!u) return;
    this.update(key, { state: 'uploading', error: null });
    u.start();
  }

  async cancel(key: string) {
    const u = this.uploads.get(key);
    this.uploads.delete(key);
    this.items = this.items.filter((i) => i.key !== key);
    for (const l of this.listeners) l();
    if (u) await u.abort(true).catch(() => undefined);
  }

  dismiss(key: string) {
    this.items = this.items.filter((i) => i.key !== key);
    for (const l of this.listeners) l();
  }

  isActive(filename: string, size: number): boolean {
    return this.items.some((i) => i.filename === filename && i.size === size && i.state !== 'done');
  }
}

export const uploads = new UploadStore();

/** Uploads started earlier (this or a previous page load) that never finished. */
export async function interruptedUploads(): Promise<PreviousUpload[]> {
  const all = await defaultOptions.urlStorage.findAllUploads();
  return all.filter((u) => u.uploadUrl);
}

/** Bytes the server already holds of an interrupted upload (tus HEAD), null when it is gone. */
export async function serverOffset(uploadUrl: string): Promise<number | null> {
  const token = await auth.accessToken();
  const res = await fetch(uploadUrl, {
    method: 'HEAD',
    headers: { 'Tus-Resumable': '1.0.0', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  if (!res.ok) return null;
  const off = Number(res.headers.get('upload-offset'));
  return Number.isFinite(off) ? off : null;
}

export async function discardInterrupted(u: PreviousUpload): Promise<void> {
  const token = await auth.accessToken();
  if (u.uploadUrl) {
    await Upload.terminate(u.uploadUrl, {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
    }).catch(() => undefined);
  }
  await defaultOptions.urlStorage.removeUpload(u.urlStorageKey);
}
