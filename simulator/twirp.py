"""The Twirp API of livekit-server (RoomService, Egress, Ingress list calls) over aiohttp.

Requests and responses are the real protobuf messages of ``livekit-protocol``, in binary
(``application/protobuf``) or protojson (``application/json``: proto field names, unpopulated
fields emitted, int64 as strings) like twirp's Go server. Errors are Twirp JSON
``{"code": ..., "msg": ...}`` with the matching HTTP status.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit.protocol import egress as egress_pb
from livekit.protocol import ingress as ingress_pb
from livekit.protocol import models as models_pb
from livekit.protocol import room as room_pb

from simulator.auth import AuthError, Grants, grants_for
from simulator.clock import LiveFleet
from simulator.model import Snapshot

log = logging.getLogger(__name__)

HTTP_STATUS = {
    "bad_route": 404,
    "malformed": 400,
    "not_found": 404,
    "unauthenticated": 401,
    "permission_denied": 403,
    "internal": 500,
    "unavailable": 503,
    "invalid_argument": 400,
}
REDIS_REQUIRED = "egress not connected (redis required)"
ROOM_EMPTY_TIMEOUT_S = 300
ROOM_DEPARTURE_TIMEOUT_S = 20


class TwirpError(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


# Called once per API request: (service, method, http_status, twirp_code or "").
RequestObserver = Callable[[str, str, int, str], None]


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def _present(value: Any) -> bool:
    return value is not None and value is not pd.NA and not (isinstance(value, float) and math.isnan(value))


@dataclass
class TwirpApi:
    fleet: LiveFleet
    keys: Mapping[str, str]
    no_redis: bool = False
    observer: RequestObserver | None = None
    rtmp_host: str = "127.0.0.1"

    # ---------------------------------------------------------------------------------------
    # Messages
    # ---------------------------------------------------------------------------------------

    def _room(self, row: Any) -> models_pb.Room:
        created = self.fleet.to_real(float(row.started_ts))
        return models_pb.Room(
            sid=row.room_sid,
            name=row.room_name,
            empty_timeout=ROOM_EMPTY_TIMEOUT_S,
            departure_timeout=ROOM_DEPARTURE_TIMEOUT_S,
            creation_time=int(created),
            creation_time_ms=int(created * 1000),
            num_participants=int(row.num_participants),
            num_publishers=int(row.num_publishers),
            active_recording=bool(row.active_recording),
        )

    def _participant(self, snap: Snapshot, row: Any) -> models_pb.ParticipantInfo:
        joined = self.fleet.to_real(float(row.joined_ts))
        egress = row.kind == "EGRESS"
        info = models_pb.ParticipantInfo(
            sid=row.participant_sid,
            identity=row.identity,
            state=str(row.state),  # enum fields take their names
            joined_at=int(joined),
            joined_at_ms=int(joined * 1000),
            name=row.name,
            version=1,
            is_publisher=bool(row.is_publisher),
            kind=str(row.kind),
            permission=models_pb.ParticipantPermission(
                can_subscribe=True,
                can_publish=bool(row.is_publisher),
                can_publish_data=not egress,
                hidden=egress,
                recorder=egress,
            ),
        )
        positions = snap.tracks_by_participant.get(row.participant_sid)
        if positions is not None:
            for track in snap.tracks.iloc[positions].itertuples(index=False):
                info.tracks.append(
                    models_pb.TrackInfo(
                        sid=str(track.track_sid),
                        type=str(track.type),
                        name=str(track.name),
                        width=int(str(track.width)),
                        height=int(str(track.height)),
                        source=str(track.source),
                        mime_type=str(track.mime_type),
                    )
                )
        return info

    def _egress(self, row: Any) -> egress_pb.EgressInfo:
        started = self.fleet.to_real(float(row.started_ts))
        ended = self.fleet.to_real(float(row.ended_ts)) if _present(row.ended_ts) else None
        now = self.fleet.to_real(self.fleet.sim_now())
        audio_only = not self.fleet.model.has_video
        info = egress_pb.EgressInfo(
            egress_id=row.egress_id,
            room_id=row.room_sid,
            room_name=row.room_name,
            source_type=egress_pb.EgressSourceType.EGRESS_SOURCE_TYPE_WEB,
            status=str(row.status),
            started_at=_ns(started),
            ended_at=_ns(ended) if ended is not None else 0,
            updated_at=_ns(ended if ended is not None else now),
            error=row.error or "",
            room_composite=egress_pb.RoomCompositeEgressRequest(
                room_name=row.room_name, layout="speaker", audio_only=audio_only
            ),
        )
        duration_ns = _ns((ended if ended is not None else now) - started)
        if row.output == "segments":
            info.segment_results.append(
                egress_pb.SegmentsInfo(
                    playlist_name=f"{row.room_name}/playlist.m3u8",
                    live_playlist_name=f"{row.room_name}/live.m3u8",
                    duration=duration_ns,
                    segment_count=max(duration_ns // 6_000_000_000, 0),
                    started_at=_ns(started),
                    ended_at=_ns(ended) if ended is not None else 0,
                )
            )
        elif row.output == "stream":
            info.stream_results.append(
                egress_pb.StreamInfo(
                    url=f"rtmp://cdn.example/live/{row.room_name}",
                    started_at=_ns(started),
                    ended_at=_ns(ended) if ended is not None else 0,
                    duration=duration_ns,
                    status="ACTIVE" if ended is None else "FINISHED",
                )
            )
        return info

    def _ingress(self, row: Any, room_sids: Mapping[str, str]) -> ingress_pb.IngressInfo:
        state = ingress_pb.IngressState(status=str(row.status))
        if _present(row.started_ts):
            state.started_at = _ns(self.fleet.to_real(float(row.started_ts)))
            state.updated_at = state.started_at
        if _present(row.ended_ts):
            state.ended_at = _ns(self.fleet.to_real(float(row.ended_ts)))
            state.updated_at = state.ended_at
        if row.status == "ENDPOINT_PUBLISHING":
            state.room_id = room_sids.get(row.room_name, "")
            state.audio.CopyFrom(
                ingress_pb.InputAudioState(mime_type="audio/mp4a-latm", average_bitrate=160_000, channels=2,
                                           sample_rate=48_000)
            )  # fmt: skip
        return ingress_pb.IngressInfo(
            ingress_id=row.ingress_id,
            name=row.name,
            stream_key=f"sk_{row.ingress_id[3:]}",
            url=f"rtmp://{self.rtmp_host}:1935/x",
            input_type=str(row.input_type),
            room_name=row.room_name,
            participant_identity=row.participant_identity,
            participant_name=row.name,
            reusable=True,
            enabled=True,
            state=state,
        )

    # ---------------------------------------------------------------------------------------
    # Methods
    # ---------------------------------------------------------------------------------------

    def list_rooms(self, req: room_pb.ListRoomsRequest, grants: Grants) -> room_pb.ListRoomsResponse:
        if not grants.can_list():
            raise TwirpError("unauthenticated", "permissions denied")
        rooms = self.fleet.snapshot().rooms
        if req.names:
            rooms = rooms[rooms["room_name"].isin(list(req.names))]
        return room_pb.ListRoomsResponse(rooms=[self._room(row) for row in rooms.itertuples(index=False)])

    def _room_participants(self, room_name: str) -> tuple[Snapshot, pd.DataFrame]:
        snap = self.fleet.snapshot()
        match = snap.rooms.loc[snap.rooms["room_name"] == room_name, "room_sid"]
        if match.empty:
            raise TwirpError("not_found", "requested room does not exist")
        positions = snap.participants_by_room.get(str(match.iloc[0]), np.empty(0, np.intp))
        return snap, snap.participants.iloc[positions]

    def list_participants(
        self, req: room_pb.ListParticipantsRequest, grants: Grants
    ) -> room_pb.ListParticipantsResponse:
        if not grants.can_admin(req.room):
            raise TwirpError("unauthenticated", "permissions denied")
        snap, participants = self._room_participants(req.room)
        return room_pb.ListParticipantsResponse(
            participants=[self._participant(snap, row) for row in participants.itertuples(index=False)]
        )

    def get_participant(
        self, req: room_pb.RoomParticipantIdentity, grants: Grants
    ) -> models_pb.ParticipantInfo:
        if not grants.can_admin(req.room):
            raise TwirpError("unauthenticated", "permissions denied")
        snap, participants = self._room_participants(req.room)
        found = participants[participants["identity"] == req.identity]
        if found.empty:
            raise TwirpError("not_found", "participant does not exist")
        return self._participant(snap, next(found.itertuples(index=False)))

    def list_egress(self, req: egress_pb.ListEgressRequest, grants: Grants) -> egress_pb.ListEgressResponse:
        if not grants.can_record():
            raise TwirpError("unauthenticated", "permissions denied")
        if self.no_redis:
            raise TwirpError("internal", REDIS_REQUIRED)
        items = self.fleet.snapshot().egress
        if req.room_name:
            items = items[items["room_name"] == req.room_name]
        if req.egress_id:
            items = items[items["egress_id"] == req.egress_id]
        if req.active:
            items = items[items["status"] == "EGRESS_ACTIVE"]
        return egress_pb.ListEgressResponse(
            items=[self._egress(row) for row in items.itertuples(index=False)]
        )

    def list_ingress(
        self, req: ingress_pb.ListIngressRequest, grants: Grants
    ) -> ingress_pb.ListIngressResponse:
        if not grants.can_admin_ingress():
            raise TwirpError("unauthenticated", "permissions denied")
        if self.no_redis:
            raise TwirpError("internal", REDIS_REQUIRED)
        snap = self.fleet.snapshot()
        items = snap.ingress
        if req.room_name:
            items = items[items["room_name"] == req.room_name]
        if req.ingress_id:
            items = items[items["ingress_id"] == req.ingress_id]
        room_sids = dict(zip(snap.rooms["room_name"], snap.rooms["room_sid"], strict=True))
        return ingress_pb.ListIngressResponse(
            items=[self._ingress(row, room_sids) for row in items.itertuples(index=False)]
        )

    # ---------------------------------------------------------------------------------------
    # HTTP
    # ---------------------------------------------------------------------------------------

    def routes(self) -> dict[tuple[str, str], tuple[type[Message], Callable[[Any, Grants], Message]]]:
        return {
            ("livekit.RoomService", "ListRooms"): (room_pb.ListRoomsRequest, self.list_rooms),
            ("livekit.RoomService", "ListParticipants"): (
                room_pb.ListParticipantsRequest,
                self.list_participants,
            ),
            ("livekit.RoomService", "GetParticipant"): (
                room_pb.RoomParticipantIdentity,
                self.get_participant,
            ),
            ("livekit.Egress", "ListEgress"): (egress_pb.ListEgressRequest, self.list_egress),
            ("livekit.Ingress", "ListIngress"): (ingress_pb.ListIngressRequest, self.list_ingress),
        }

    def _observe(self, service: str, method: str, status: int, code: str) -> None:
        if self.observer is not None:
            self.observer(service.removeprefix("livekit."), method, status, code)

    def app(self) -> web.Application:
        routes = self.routes()

        async def handle(request: web.Request) -> web.StreamResponse:
            service, method = request.match_info["service"], request.match_info["method"]
            try:
                response = await self._handle(request, routes, service, method)
            except AuthError as exc:
                self._observe(service, method, 401, "")
                return web.Response(status=401, text=str(exc))
            except TwirpError as exc:
                status = HTTP_STATUS.get(exc.code, 500)
                self._observe(service, method, status, exc.code)
                return web.json_response({"code": exc.code, "msg": exc.msg}, status=status)
            except Exception:  # a bug in the simulator: answer like a server would, keep serving
                log.exception("internal error in %s/%s", service, method)
                self._observe(service, method, 500, "internal")
                return web.json_response({"code": "internal", "msg": "internal error"}, status=500)
            self._observe(service, method, 200, "")
            return response

        app = web.Application()
        app.router.add_post("/twirp/{service}/{method}", handle)
        return app

    async def _handle(
        self,
        request: web.Request,
        routes: Mapping[tuple[str, str], tuple[type[Message], Callable[[Any, Grants], Message]]],
        service: str,
        method: str,
    ) -> web.Response:
        grants = grants_for(
            request.headers.get("Authorization"), request.query.get("access_token"), self.keys
        )
        route = routes.get((service, method))
        if route is None:
            raise TwirpError("bad_route", f"no handler for path {request.path!r}")
        request_cls, handler = route
        content_type = request.content_type
        body = await request.read()
        message = request_cls()
        try:
            if content_type == "application/json":
                json_format.Parse(body or b"{}", message, ignore_unknown_fields=True)
            elif content_type == "application/protobuf":
                message.ParseFromString(body)
            else:
                raise TwirpError("bad_route", f"unexpected Content-Type: {content_type!r}")
        except (DecodeError, json_format.ParseError) as exc:
            raise TwirpError("malformed", f"the request could not be decoded: {exc}") from None
        reply = handler(message, grants)
        if content_type == "application/json":
            text = json_format.MessageToJson(
                reply,
                preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True,
                indent=None,
            )
            return web.Response(body=text.encode(), content_type="application/json")
        return web.Response(body=reply.SerializeToString(), content_type="application/protobuf")
