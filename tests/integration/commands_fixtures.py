"""Golden CS->CP requests and the answers a test charge point gives, for all 26 actions."""

from __future__ import annotations

from typing import Any

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
HASH = {
    "hashAlgorithm": "SHA256",
    "issuerNameHash": "a" * 64,
    "issuerKeyHash": "b" * 64,
    "serialNumber": "01",
}
PROFILE = {
    "chargingProfileId": 1,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
    },
}

# action -> (request body an operator posts, the CALLRESULT payload the CP answers)
COMMANDS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "CancelReservation": ({"reservationId": 1}, {"status": "Accepted"}),
    "ChangeAvailability": ({"connectorId": 1, "type": "Inoperative"}, {"status": "Accepted"}),
    "ChangeConfiguration": (
        {"key": "HeartbeatInterval", "value": "120"},
        {"status": "Accepted"},
    ),
    "ClearCache": ({}, {"status": "Accepted"}),
    "ClearChargingProfile": ({"id": 1}, {"status": "Accepted"}),
    "DataTransfer": ({"vendorId": "ACME", "messageId": "ping"}, {"status": "Accepted"}),
    "GetCompositeSchedule": (
        {"connectorId": 1, "duration": 3600},
        {"status": "Rejected"},
    ),
    "GetConfiguration": (
        {"key": ["HeartbeatInterval"]},
        {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]},
    ),
    "GetDiagnostics": (
        {"location": "ftp://diag.example.com/"},
        {"fileName": "diag.zip"},
    ),
    "GetLocalListVersion": ({}, {"listVersion": 3}),
    "RemoteStartTransaction": ({"idTag": "TAG1", "connectorId": 1}, {"status": "Accepted"}),
    "RemoteStopTransaction": ({"transactionId": 42}, {"status": "Accepted"}),
    "ReserveNow": (
        {
            "connectorId": 1,
            "expiryDate": "2030-01-01T00:00:00Z",
            "idTag": "TAG1",
            "reservationId": 7,
        },
        {"status": "Accepted"},
    ),
    "Reset": ({"type": "Soft"}, {"status": "Accepted"}),
    "SendLocalList": (
        {"listVersion": 4, "updateType": "Full", "localAuthorizationList": [{"idTag": "TAG1"}]},
        {"status": "Accepted"},
    ),
    "SetChargingProfile": (
        {"connectorId": 1, "csChargingProfiles": PROFILE},
        {"status": "Accepted"},
    ),
    "TriggerMessage": ({"requestedMessage": "StatusNotification"}, {"status": "Accepted"}),
    "UnlockConnector": ({"connectorId": 1}, {"status": "Unlocked"}),
    "UpdateFirmware": (
        {"location": "https://fw.example.com/x.bin", "retrieveDate": "2030-01-01T00:00:00Z"},
        {},
    ),
    "CertificateSigned": ({"certificateChain": CERT}, {"status": "Accepted"}),
    "DeleteCertificate": ({"certificateHashData": HASH}, {"status": "Accepted"}),
    "ExtendedTriggerMessage": (
        {"requestedMessage": "SignChargePointCertificate"},
        {"status": "Accepted"},
    ),
    "GetInstalledCertificateIds": (
        {"certificateType": "CentralSystemRootCertificate"},
        {"status": "Accepted", "certificateHashData": [HASH]},
    ),
    "GetLog": (
        {"logType": "SecurityLog", "requestId": 1, "log": {"remoteLocation": "https://l.example"}},
        {"status": "Accepted", "filename": "log.txt"},
    ),
    "InstallCertificate": (
        {"certificateType": "ManufacturerRootCertificate", "certificate": CERT},
        {"status": "Accepted"},
    ),
    "SignedUpdateFirmware": (
        {
            "requestId": 1,
            "firmware": {
                "location": "https://fw.example.com/x.bin",
                "retrieveDateTime": "2030-01-01T00:00:00Z",
                "signingCertificate": CERT,
                "signature": "c2lnbmF0dXJl",
            },
        },
        {"status": "Accepted"},
    ),
}
