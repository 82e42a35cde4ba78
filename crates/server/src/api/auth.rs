//! The Auth service (`etcdserverpb.Auth`): Authenticate, AuthEnable,
//! AuthDisable, AuthStatus, and users, roles and permissions as etcd
//! manages them (`etcdctl user ...`, `etcdctl role ...`). Passwords are
//! bcrypt-hashed here, with `--bcrypt-cost`, before the change enters the
//! log, so every member stores the same hash. Who may do what is
//! `EtcdServer`'s to judge (root for changes and lists; a user may read
//! itself, a holder its role).

use std::sync::Arc;

use etcd_proto::etcdserverpb::auth_server::Auth;
use etcd_proto::etcdserverpb::*;
use etcd_proto::raftpb::auth_change::Change;
use tonic::{Request, Response, Status};

use crate::server::EtcdServer;

pub struct AuthService {
    server: Arc<EtcdServer>,
}

impl AuthService {
    pub fn new(server: Arc<EtcdServer>) -> AuthService {
        AuthService { server }
    }

    /// Applies the change `request` asks for; the header for its response.
    async fn change<T>(
        &self,
        request: Request<T>,
        change: impl FnOnce(T) -> Change,
    ) -> Result<Option<ResponseHeader>, Status> {
        let caller = self.server.caller(&request).await?;
        let change = change(request.into_inner());
        let revision = self.server.auth_change(&caller, change).await?;
        Ok(Some(self.server.header(revision)))
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_enable(
        &self,
        request: Request<AuthEnableRequest>,
    ) -> Result<Response<AuthEnableResponse>, Status> {
        let header = self.change(request, Change::Enable).await?;
        Ok(Response::new(AuthEnableResponse { header }))
    }

    async fn auth_disable(
        &self,
        request: Request<AuthDisableRequest>,
    ) -> Result<Response<AuthDisableResponse>, Status> {
        let header = self.change(request, Change::Disable).await?;
        Ok(Response::new(AuthDisableResponse { header }))
    }

    async fn auth_status(
        &self,
        request: Request<AuthStatusRequest>,
    ) -> Result<Response<AuthStatusResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let (state, revision) = self.server.auth_state(&caller).await?;
        Ok(Response::new(AuthStatusResponse {
            header: Some(self.server.header(revision)),
            enabled: state.enabled,
            auth_revision: state.revision,
        }))
    }

    async fn authenticate(
        &self,
        request: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let req = request.into_inner();
        let (token, revision) = self.server.authenticate(req.name, req.password).await?;
        Ok(Response::new(AuthenticateResponse {
            header: Some(self.server.header(revision)),
            token,
        }))
    }

    async fn user_add(
        &self,
        request: Request<AuthUserAddRequest>,
    ) -> Result<Response<AuthUserAddResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let mut req = request.into_inner();
        let no_password = req.options.as_ref().is_some_and(|o| o.no_password);
        req.hashed_password = match no_password {
            true => String::new(),
            false => {
                self.server
                    .hash_password(std::mem::take(&mut req.password))
                    .await?
            }
        };
        req.password.clear();
        let revision = self
            .server
            .auth_change(&caller, Change::UserAdd(req))
            .await?;
        Ok(Response::new(AuthUserAddResponse {
            header: Some(self.server.header(revision)),
        }))
    }

    async fn user_get(
        &self,
        request: Request<AuthUserGetRequest>,
    ) -> Result<Response<AuthUserGetResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let name = request.into_inner().name;
        let (user, revision) = self.server.user(&caller, name).await?;
        Ok(Response::new(AuthUserGetResponse {
            header: Some(self.server.header(revision)),
            roles: user.roles,
        }))
    }

    async fn user_list(
        &self,
        request: Request<AuthUserListRequest>,
    ) -> Result<Response<AuthUserListResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let (users, revision) = self.server.user_names(&caller).await?;
        Ok(Response::new(AuthUserListResponse {
            header: Some(self.server.header(revision)),
            users,
        }))
    }

    async fn user_delete(
        &self,
        request: Request<AuthUserDeleteRequest>,
    ) -> Result<Response<AuthUserDeleteResponse>, Status> {
        let header = self.change(request, Change::UserDelete).await?;
        Ok(Response::new(AuthUserDeleteResponse { header }))
    }

    async fn user_change_password(
        &self,
        request: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let mut req = request.into_inner();
        req.hashed_password = self
            .server
            .hash_password(std::mem::take(&mut req.password))
            .await?;
        let revision = self
            .server
            .auth_change(&caller, Change::UserChangePassword(req))
            .await?;
        Ok(Response::new(AuthUserChangePasswordResponse {
            header: Some(self.server.header(revision)),
        }))
    }

    async fn user_grant_role(
        &self,
        request: Request<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        let header = self.change(request, Change::UserGrantRole).await?;
        Ok(Response::new(AuthUserGrantRoleResponse { header }))
    }

    async fn user_revoke_role(
        &self,
        request: Request<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        let header = self.change(request, Change::UserRevokeRole).await?;
        Ok(Response::new(AuthUserRevokeRoleResponse { header }))
    }

    async fn role_add(
        &self,
        request: Request<AuthRoleAddRequest>,
    ) -> Result<Response<AuthRoleAddResponse>, Status> {
        let header = self.change(request, Change::RoleAdd).await?;
        Ok(Response::new(AuthRoleAddResponse { header }))
    }

    async fn role_get(
        &self,
        request: Request<AuthRoleGetRequest>,
    ) -> Result<Response<AuthRoleGetResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let name = request.into_inner().role;
        let (perm, revision) = self.server.role(&caller, name).await?;
        Ok(Response::new(AuthRoleGetResponse {
            header: Some(self.server.header(revision)),
            perm,
        }))
    }

    async fn role_list(
        &self,
        request: Request<AuthRoleListRequest>,
    ) -> Result<Response<AuthRoleListResponse>, Status> {
        let caller = self.server.caller(&request).await?;
        let (roles, revision) = self.server.role_names(&caller).await?;
        Ok(Response::new(AuthRoleListResponse {
            header: Some(self.server.header(revision)),
            roles,
        }))
    }

    async fn role_delete(
        &self,
        request: Request<AuthRoleDeleteRequest>,
    ) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        let header = self.change(request, Change::RoleDelete).await?;
        Ok(Response::new(AuthRoleDeleteResponse { header }))
    }

    async fn role_grant_permission(
        &self,
        request: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        let header = self.change(request, Change::RoleGrantPermission).await?;
        Ok(Response::new(AuthRoleGrantPermissionResponse { header }))
    }

    async fn role_revoke_permission(
        &self,
        request: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        let header = self.change(request, Change::RoleRevokePermission).await?;
        Ok(Response::new(AuthRoleRevokePermissionResponse { header }))
    }
}
