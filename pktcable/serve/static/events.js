// The events a device's history records, in words. The names are those the
// provisioning entity (pktcable/provision/entity.py: the server flow's events,
// FlowNotSupported, ResetRequested, Unexpected<event>) and the back office
// (pktcable/serve/app.py: LeaseAcked and LeaseRenewed, FileServed, TransferFailed)
// write into the store; tests/test_dashboard.py checks that every one of them
// has its sentence here.

export const EVENT_WORDS = {
  LeaseAcked: "The DHCP server granted a lease and sent the ACK (for an eMTA, with option 122 naming its flow).",
  LeaseRenewed: "The device renewed its lease on the same address; its provisioning run (or its outcome) stands.",
  KeysEstablished: "The eMTA's key-management AP Request verified: its SNMPv3 keys are in place (Secure flow, MTA-13/14).",
  KeyRequestRefused: "A key-management AP Request naming the eMTA was refused (ticket, HMAC, replay or realm); the run goes on.",
  UsmFailed: "An SNMPv3 message from the eMTA's user failed USM checks (digest or time window) and got a Report; the run goes on.",
  EnrollmentReceived: "The eMTA's enrollment INFORM arrived and was acknowledged: a provisioning run starts.",
  EnrollmentRetransmitted: "The eMTA sent its enrollment INFORM again for the same run (our Response crossed its retry).",
  ConfigBuilt: "The device's config file and its hash were built from its template.",
  ConfigBuildFailed: "No config file could be built for the device: its template or its values are in error.",
  LocationSetAcked: "The eMTA accepted the SET of its config-file URL and hash.",
  LocationSetUnanswered: "The SET of the config-file URL and hash got no Response; the server waits to see whether the eMTA acted on it.",
  LocationSetFailed: "The SET of the config-file URL and hash failed: the eMTA refused it or never showed it acted on it.",
  FileServed: "The config file was delivered to the device.",
  TransferFailed: "A transfer of the device's config file failed.",
  StatusReceived: "The eMTA reported its provisioning status (the MTA-25 INFORM).",
  ServerTimerExpired: "The device did not finish provisioning within its flow's time budget.",
  FlowNotSupported: "The device's flow is not one this server runs: it was not provisioned.",
  ResetRequested: "An operator asked the eMTA to reset (SET of pktcMtaDevResetNow).",
  ReprovisionRequested: "An operator cleared the device's flow state so that it provisions anew.",
  // A SIP phone's (pktcable/flow/sip.py SERVER_EVENTS, and serve/sipwiring.py's fetches).
  Subscribed: "The phone's ua-profile SUBSCRIBE was accepted: a new subscription.",
  Refreshed: "The phone refreshed its subscription before it expired.",
  Notified: "The phone acknowledged a NOTIFY naming its profile URL.",
  Unsubscribed: "The phone ended its subscription (SUBSCRIBE with Expires: 0).",
  Expired: "The phone's subscription ran out unrefreshed.",
  SubscriptionEnded: "A NOTIFY ended the subscription: the phone refused it or never answered.",
  ProfileFailed: "The phone's profile could not be built or fails its schema: nothing is announced.",
  AuthFailed: "The phone's credentials (or its address) were refused.",
  NotifyFailed: "The phone answered a NOTIFY with an error; it is tried again at the next change.",
  NotNotified: "A change for the phone found it neither subscribed nor at a known address: nobody was told.",
  ProfileFetched: "The phone fetched its profile over HTTP(S) (a 304 to its ETag counts: it holds that version).",
  PushRetry: "A change NOTIFY to the phone failed; it is sent again after the wait the detail names.",
  Unreachable: "No change NOTIFY reached the phone in all its tries: it is counted unreachable until it subscribes again.",
  // A modem still behind the image its file offered, asked why over SNMP (pktcable/firmware/swcheck.py Check).
  SwUpgradeConfirmed: "Asked after an offered image: the modem runs the offered version.",
  SwUpgradeFailed: "Asked after an offered image: the modem's download or its checks failed; it keeps its version (the detail says why).",
  SwUpgradeInProgress: "Asked after an offered image: the modem's download is still under way; it is asked again later.",
  SwUpgradeNotTried: "Asked after an offered image: the modem has not tried it (the detail says what its agent shows).",
  SwUpgradeUnanswered: "Asked after an offered image: no answer from the modem's agent (or no lease to ask it at).",
};

/** Result codes of pktcMtaDevProvisioningState (PKTC-MTA-MIB; pktcable/flow/tables.py ProvisioningState). */
export const RESULT_WORDS = {
  1: "pass",
  2: "in progress",
  3: "fail: config file error",
  4: "pass with warnings",
  5: "pass with incomplete parsing",
  6: "failure: internal error",
  7: "fail: other reason",
};

const PREFIX = "Unexpected";

/** "SomethingHappened" as "something happened" (for a name without a sentence). */
function spaced(name) {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
}

/** An event name in words. */
export function describe(event) {
  const name = String(event || "");
  if (Object.hasOwn(EVENT_WORDS, name)) return EVENT_WORDS[name];
  if (name.startsWith(PREFIX) && name.length > PREFIX.length) {
    const inner = name.slice(PREFIX.length);
    const what = Object.hasOwn(EVENT_WORDS, inner) ? EVENT_WORDS[inner].replace(/\.$/, "") : spaced(inner);
    return `Not expected at this point of the device's flow (recorded, the run goes on unchanged): ${what}.`;
  }
  const words = spaced(name);
  return words ? words.charAt(0).toUpperCase() + words.slice(1) + "." : "(no event name)";
}

/** Whether an event is a failure of the run. */
export function isFailure(event, detail) {
  if (event === "StatusReceived") return /^[367]$/.test(String(detail).trim());
  return /Failed$|Expired$|NotSupported$|^Unreachable$/.test(String(event));
}
