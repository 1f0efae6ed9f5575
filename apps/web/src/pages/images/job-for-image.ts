import type { Image, Job } from '@ggnet/contracts';

/** The running job that works on an image (conversion), matched by any payload field naming it. */
export function jobForImage(jobs: Job[], image: Image): Job | undefined {
  return jobs.find((j) => Object.values(j.payload).includes(image.id));
}
