import type { Page, Target, TargetListQuery } from '@ggnet/contracts';
import { notFound } from '../../errors/app-error.js';
import { toTarget, type TargetsRepository } from './targets.repository.js';

/** Read side of targets. Creating and removing them on the host is the iSCSI module's job. */
export class TargetsService {
  constructor(private readonly repo: TargetsRepository) {}

  async list(q: TargetListQuery, canReveal: boolean): Promise<Page<Target>> {
    const page = await this.repo.list(q);
    const reveal = canReveal && q.reveal === 'true';
    return { items: page.items.map((r) => toTarget(r, [], reveal)), total: page.total };
  }

  async get(id: string, reveal: boolean): Promise<Target> {
    const row = await this.repo.findById(id);
    if (!row) throw notFound('target', id);
    return toTarget(row, [], reveal);
  }
}
