"""Community features of a server: who may generate where, moderation, moderator approval,
showcases with votes, the server credit pool and themed events. No discord imports here."""

from bot.community.service import Admission, AdmissionQuery, Community, CommunityRefusal

__all__ = ["Admission", "AdmissionQuery", "Community", "CommunityRefusal"]
