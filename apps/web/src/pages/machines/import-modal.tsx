import { useState } from 'react';
import {
  Alert,
  Button,
  FileButton,
  Group,
  Modal,
  ScrollArea,
  Stack,
  Table,
  Text,
  Textarea,
} from '@mantine/core';
import { IconCheck, IconFileImport } from '@tabler/icons-react';
import type { MachineImportRequest, MachineImportResult } from '@ggnet/contracts';
import { isApiError } from '../../api/api-error';
import { api } from '../../api/client';

interface LineError {
  line: number | null;
  message: string;
}

/** Line errors of a refused import: problem+json errors with paths like `csv.line.3`. */
export function importErrors(e: unknown): LineError[] {
  if (!isApiError(e)) return [{ line: null, message: String(e) }];
  if (!e.errors.length) return [{ line: null, message: e.hint ? `${e.detail} — ${e.hint}` : e.detail }];
  return e.errors.map((x) => {
    const m = /line\.(\d+)/.exec(x.path);
    return { line: m ? Number(m[1]) : null, message: x.message };
  });
}

const EXAMPLE =
  'name,mac,ip,description,bootMode,tags\npc-01,52:54:00:00:00:01,,front row,normal,row-a;vip\n';

export function ImportModal(props: { opened: boolean; onClose: () => void; onImported: () => void }) {
  const [csv, setCsv] = useState('');
  const [busy, setBusy] = useState<'check' | 'import' | null>(null);
  const [errors, setErrors] = useState<LineError[]>([]);
  const [checked, setChecked] = useState<MachineImportResult | null>(null);

  const run = async (dryRun: boolean) => {
    setBusy(dryRun ? 'check' : 'import');
    setErrors([]);
    setChecked(null);
    try {
      const body: MachineImportRequest = { csv, dryRun };
      const r = await api<MachineImportResult>('/machines/import', { method: 'POST', body });
      if (dryRun) setChecked(r);
      else {
        props.onImported();
        setCsv('');
        props.onClose();
      }
    } catch (e) {
      setErrors(importErrors(e));
    } finally {
      setBusy(null);
    }
  };

  return (
    <Modal opened={props.opened} onClose={props.onClose} title="Import machines from CSV" size="xl">
      <Stack>
        <Text size="sm" c="dimmed">
          A header line with at least <b>name,mac</b>; optional ip, description, bootMode, tags (separated by
          ;), image, group (a group name), enabled, keepWriteback. The import is all or nothing: if one line
          is wrong, nothing is stored.
        </Text>
        <Textarea
          label="CSV"
          placeholder={EXAMPLE}
          autosize
          minRows={6}
          maxRows={14}
          styles={{ input: { fontFamily: 'monospace' } }}
          value={csv}
          onChange={(e) => {
            setCsv(e.currentTarget.value);
            setChecked(null);
          }}
        />
        <Group>
          <FileButton accept=".csv,text/csv,text/plain" onChange={async (f) => f && setCsv(await f.text())}>
            {(p) => (
              <Button variant="default" leftSection={<IconFileImport size={16} />} {...p}>
                Load a file…
              </Button>
            )}
          </FileButton>
        </Group>
        {checked && (
          <Alert color="teal" icon={<IconCheck size={18} />} data-testid="import-check-ok">
            {checked.created} machine{checked.created === 1 ? '' : 's'} would be created. Nothing was stored
            yet.
          </Alert>
        )}
        {errors.length > 0 && (
          <Alert color="red" title="Nothing was imported" data-testid="import-errors">
            <ScrollArea.Autosize mah={200}>
              <Table fz="sm">
                <Table.Tbody>
                  {errors.map((e, i) => (
                    <Table.Tr key={i}>
                      <Table.Td w={80}>{e.line !== null ? `line ${e.line}` : ''}</Table.Td>
                      <Table.Td>{e.message}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </ScrollArea.Autosize>
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={props.onClose}>
            Cancel
          </Button>
          <Button variant="light" disabled={!csv.trim()} loading={busy === 'check'} onClick={() => run(true)}>
            Check
          </Button>
          <Button disabled={!csv.trim()} loading={busy === 'import'} onClick={() => run(false)}>
            Import
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
