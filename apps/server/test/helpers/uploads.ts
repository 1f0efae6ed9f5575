import { createReadStream } from 'node:fs';
import * as tus from 'tus-js-client';

export interface TusResult {
  upload: tus.Upload;
  error: (Error & { originalResponse?: tus.HttpResponse | null }) | null;
  headers: Record<string, string | undefined>;
}

/** One tus-js-client upload to the end (or to its error), over the real socket. */
export function tusUpload(
  endpoint: string,
  file: string,
  metadata: Record<string, string>,
  token: string,
  extra: Partial<tus.UploadOptions> = {},
): Promise<TusResult> {
  return new Promise((resolve) => {
    const headers: Record<string, string | undefined> = {};
    const upload: tus.Upload = new tus.Upload(createReadStream(file), {
      endpoint,
      metadata,
      headers: { authorization: `Bearer ${token}` },
      retryDelays: null,
      onAfterResponse: (_req, res) => {
        for (const h of ['GGnet-Image-Id', 'GGnet-Media-Id', 'GGnet-Sha256', 'GGnet-Job-Id'])
          headers[h] = res.getHeader(h) ?? headers[h];
      },
      onSuccess: () => resolve({ upload, error: null, headers }),
      onError: (error) => {
        // the server answered while the body was still being sent: stop sending (as a CLI exits)
        void upload.abort();
        resolve({ upload, error: error, headers });
      },
      ...extra,
    });
    upload.start();
  });
}

/** The problem+json body of a failed tus request. */
export const problem = (r: TusResult) =>
  JSON.parse(r.error?.originalResponse?.getBody() ?? '{}') as Record<string, unknown>;
