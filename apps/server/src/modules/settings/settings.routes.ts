import { SettingsPatch, SettingsResponse } from '@ggnet/contracts';
import type { App } from '../../http/types.js';
import type { SettingsService } from './settings.service.js';

export function registerSettingsRoutes(app: App, deps: { settings: SettingsService }) {
  const tags = ['settings'];
  app.get(
    '/api/v1/settings',
    {
      schema: {
        tags,
        summary: 'Effective settings and which keys are locked by the environment',
        response: { 200: SettingsResponse },
      },
      config: { access: 'admin' },
    },
    async () => deps.settings.response(),
  );
  app.put(
    '/api/v1/settings',
    {
      schema: {
        tags,
        summary: 'Change settings (any subset of groups and keys), validated as a whole',
        body: SettingsPatch,
        response: { 200: SettingsResponse },
      },
      config: { access: 'admin', audit: 'settings.update', targetType: 'settings' },
    },
    async (req) => deps.settings.update(req.body, req.user!.username),
  );
}
