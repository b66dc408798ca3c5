// Whose memory a v2 request may touch, decided by the sidecar from the pod's own
// identity (AGENT_IDENTITY), never from what the caller claims. A scope or an
// attribution that names another agent is refused at every level; a scope missing
// the field its level needs is refused as upstream refuses it (400, fail closed).
// Session ids stay capabilities: any session the caller names is its own, as
// upstream treats them. The principal (user) is the caller's word: the sidecar has
// no way to verify a user inside the pod.
import { apiError, BadRequestError, type ApiError } from '../errors.js';
import type { Attribution, Scope } from './schemas.js';

/** The owner of facts and turns a write records: everything known about who wrote it. */
export interface Owners {
  principal: string | undefined;
  agent: string | undefined;
  session: string | undefined;
}

function forbidden(message: string): ApiError {
  return apiError('forbidden_scope', message);
}

/** The agent a request names must be this pod's; with no identity, none may be named. */
function checkAgent(named: string | undefined, identity: string | undefined, where: string): void {
  if (named === undefined) return;
  if (identity === undefined) {
    throw forbidden(
      `${where}.agent_client_id: this sidecar has no AGENT_IDENTITY, so it serves no agent's memory by name`,
    );
  }
  if (named !== identity) {
    throw forbidden(`${where}.agent_client_id: names another agent than this pod's (${identity})`);
  }
}

/**
 * A read or erase scope, checked: its agent is this pod's, and the field its level
 * needs is there. Group erasure reaches every agent's memory in the store and is
 * refused here; the operator's tools do that.
 */
export function checkScope(
  scope: Scope,
  identity: string | undefined,
  op: 'read' | 'forget',
): Scope {
  checkAgent(scope.agent_client_id, identity, 'scope');
  switch (scope.level) {
    case 'session':
      if (scope.session_id === undefined) throw incomplete(scope, 'session_id');
      break;
    case 'agent':
      if (scope.agent_client_id === undefined) throw incomplete(scope, 'agent_client_id');
      if (scope.user_scoping_required && scope.principal === undefined) {
        throw incomplete(scope, 'principal');
      }
      break;
    case 'user':
      if (scope.principal === undefined) throw incomplete(scope, 'principal');
      break;
    case 'group':
      if (op === 'forget') {
        throw forbidden(
          "scope.level: group erasure would erase every agent's memory in this store; " +
            'a pod may erase its session, its agent, or a user',
        );
      }
      break;
  }
  return scope;
}

function incomplete(scope: Scope, field: string): BadRequestError {
  return new BadRequestError(
    `scope.${field}: incomplete ${scope.level} scope (${field} is required)`,
  );
}

/**
 * Who a write is by: the caller may leave its agent out (the pod's identity is
 * then the writer) but may not name another.
 */
export function writeOwners(attribution: Attribution, identity: string | undefined): Owners {
  checkAgent(attribution.agent_client_id, identity, 'attribution');
  return {
    principal: attribution.principal,
    agent: identity,
    session: attribution.session_id,
  };
}
