-- Argo CD health check for tenancy.municipio.io/MunicipalityTenant.
--
-- The operator reports kstatus conditions (Ready, Reconciling, Stalled), each stamped with the
-- generation it was computed for. A condition about an older generation says nothing about the
-- spec Argo CD has just synced, so it counts only once the generations match: until then the
-- tenant is Progressing, never Healthy (nor Degraded) on the strength of the previous spec.
--
-- Argo CD runs custom checks without Lua's standard libraries (only the base functions, table
-- and part of os), and its Lua is 5.1: no string or math library, no string methods here.

local hs = {}

local function condition(status, type)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

-- Reasons of Ready=False that the cluster resolves by itself: waiting, not failing. Every other
-- reason (SourceSecretMissing, SourceSecretNotBound, SourceSecretKeyMissing, ReconcileError,
-- and the Stalled ones: InvalidSpec, NamespaceConflict, NamespaceImmutable, UndecodableSpec, UnknownField)
-- needs someone to act, even when the operator keeps retrying.
local waiting = { WorkloadsProgressing = true, Progressing = true }

local spec = obj.spec or {}
local status = obj.status
local generation = (obj.metadata or {}).generation
local ready = condition(status, "Ready")
local stalled = condition(status, "Stalled")
local reconciling = condition(status, "Reconciling")

local function current(observed)
  return generation == nil or (observed ~= nil and observed >= generation)
end

local fresh = status ~= nil and ready ~= nil
  and current(status.observedGeneration) and current(ready.observedGeneration)

-- A spec the operator refuses is reported even when suspended: suspending does not fix it, and
-- Suspended would hide it.
if fresh and stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message
  return hs
end

if spec.suspend == true then
  hs.status = "Suspended"
  if fresh and ready.reason == "Suspended" then
    hs.message = ready.message
  else
    hs.message = "spec.suspend is true"
  end
  return hs
end

if status == nil or ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

if not fresh then
  local seen = status.observedGeneration
  if ready.observedGeneration ~= nil and (seen == nil or ready.observedGeneration < seen) then
    seen = ready.observedGeneration
  end
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
    .. " (last observed: " .. (seen or "none") .. ")"
  return hs
end

if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = ready.message
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
  return hs
end

if ready.status == "False" then
  if waiting[ready.reason] then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = ready.message
  return hs
end

-- Ready=Unknown: the operator has not decided yet.
hs.status = "Progressing"
hs.message = ready.message
return hs
