import { randomUUID } from 'node:crypto';
import { AUDIT_ACTIONS as A } from '../../audit/vocabulary.js';
import type { Disclosure } from './accounting.js';

// An accounting of disclosures as a FHIR R4 Bundle (type `collection`) of AuditEvent resources,
// one per disclosure, in the DICOM "Patient Record" style: type DCM 110110, subtype the RESTful
// interaction (read / search-type), action R or E. Mapping notes: docs/disclosures.md.

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const RESTFUL = 'http://hl7.org/fhir/restful-interaction';
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
/** Identifier systems for tiergate's own ids (users by username, agencies by slug). */
export const ID_SYSTEMS = {
  user: 'urn:tiergate:user',
  agency: 'urn:tiergate:agency',
  client: 'urn:tiergate:client',
  subject: 'urn:tiergate:subject',
  observer: 'urn:tiergate:gateway',
} as const;

const ACT_REASON_DISPLAY: Record<string, string> = {
  TREAT: 'treatment',
  ETREAT: 'emergency treatment',
  BTG: 'break the glass',
  COC: 'coordination of care',
  THREAT: 'threat',
};

type Json = Record<string, unknown>;
const coding = (system: string, code: string, display?: string): Json => ({ system, code, ...(display ? { display } : {}) });

/** purposeOfUse / purposeOfEvent: the policy's v3-ActReason code, and BTG for break-glass. */
function purposeConcepts(d: Disclosure, purposeOfUse: Record<string, string>): Json[] {
  const code = purposeOfUse[d.purpose];
  const concepts: Json[] = [{ ...(code ? { coding: [coding(ACT_REASON, code, ACT_REASON_DISPLAY[code])] } : {}), text: d.purpose }];
  if (d.breakGlass) {
    concepts.push({ coding: [coding(ACT_REASON, 'BTG', ACT_REASON_DISPLAY.BTG)], text: 'emergency override' });
    if (code !== 'ETREAT') concepts.push({ coding: [coding(ACT_REASON, 'ETREAT', ACT_REASON_DISPLAY.ETREAT)] });
  }
  return concepts;
}

const organization = (slug: string, type: Json, requestor = false): Json => ({
  type: { coding: [type] },
  who: { type: 'Organization', identifier: { system: ID_SYSTEMS.agency, value: slug }, display: slug },
  requestor,
});

export function auditEvent(subjectId: string, d: Disclosure, purposeOfUse: Record<string, string>): Json {
  // A match, and a creation refused with its candidates, list people as a search does.
  const search = d.action === A.subjectSearch || d.action === A.subjectMatch || d.action === A.subjectCreate;
  const purposes = purposeConcepts(d, purposeOfUse);
  const recipient = coding(PARTICIPATION, 'IRCP', 'information recipient');
  const user = d.recipient.user ?? d.recipient.userId ?? 'unknown';
  const agent: Json[] = [
    {
      type: { coding: [recipient] },
      ...(d.recipient.role ? { role: [{ text: d.recipient.role }] } : {}),
      who: {
        identifier: { system: ID_SYSTEMS.user, value: user },
        display: d.recipient.agency ? `${user} (${d.recipient.agency})` : user,
      },
      ...(d.recipient.userId ? { altId: d.recipient.userId } : {}),
      name: user,
      requestor: true,
      purposeOfUse: purposes,
    },
  ];
  if (d.recipient.agency) agent.push(organization(d.recipient.agency, recipient));
  if (d.recipient.client) {
    agent.push({
      type: { coding: [coding(DCM, '110150', 'Application')] },
      who: { identifier: { system: ID_SYSTEMS.client, value: d.recipient.client } },
      requestor: false,
    });
  }
  for (const custodian of d.disclosedBy) agent.push(organization(custodian, coding(PARTICIPATION, 'CST', 'custodian')));

  return {
    resourceType: 'AuditEvent',
    id: d.eventId,
    type: coding(DCM, '110110', 'Patient Record'),
    subtype: [search ? coding(RESTFUL, 'search-type', 'search type') : coding(RESTFUL, 'read', 'read')],
    action: search ? 'E' : 'R',
    recorded: d.at.toISOString(),
    outcome: '0',
    purposeOfEvent: purposes,
    agent,
    source: {
      site: 'tiergate',
      observer: { identifier: { system: ID_SYSTEMS.observer, value: 'tiergate' }, display: 'tiergate' },
      type: [coding(SOURCE_TYPE, '4', 'Application Server')],
    },
    entity: [
      {
        what: { identifier: { system: ID_SYSTEMS.subject, value: subjectId } },
        type: coding(ENTITY_TYPE, '1', 'Person'),
        role: coding(OBJECT_ROLE, '1', 'Patient'),
        detail: [
          { type: 'tier', valueString: d.tier ?? 'none' },
          { type: 'kinds', valueString: d.kinds.join(' ') },
          { type: 'basis', valueString: JSON.stringify(d.basis) },
        ],
      },
    ],
  };
}

export function disclosuresBundle(subjectId: string, disclosures: Disclosure[], purposeOfUse: Record<string, string>, now = new Date()): Json {
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: now.toISOString() },
    type: 'collection',
    timestamp: now.toISOString(),
    entry: disclosures.map((d) => ({ fullUrl: `urn:uuid:${d.eventId}`, resource: auditEvent(subjectId, d, purposeOfUse) })),
  };
}
