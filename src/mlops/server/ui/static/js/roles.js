// What the signed-in user may do, from /auth/whoami. The server enforces roles anyway; the UI
// only hides buttons that would be refused.

const RANK = { viewer: 1, editor: 2, admin: 3 };

function rank(role) {
  return RANK[role] || 0;
}

export function modelRank(me, name) {
  return Math.max(rank(me.global_role), rank((me.models || {})[name]));
}

// Stage changes into or out of production, approvals and rollbacks need admin; others editor.
export function canMoveStage(me, name, from, to) {
  const needed = from === "production" || to === "production" ? "admin" : "editor";
  return modelRank(me, name) >= RANK[needed];
}

export function canEditModel(me, name) {
  return modelRank(me, name) >= RANK.editor;
}

export function canDecide(me, name) {
  return modelRank(me, name) >= RANK.admin;
}

export const canRollback = canDecide;

// Tests and other objects that are not scoped to one model need a global role.
export function canEditGlobal(me) {
  return rank(me.global_role) >= RANK.editor;
}
