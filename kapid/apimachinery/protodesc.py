"""
kapid's description of the Kubernetes protobuf messages it decodes.

The facts (field numbers, JSON names, which Go fields are pointers and which carry C{omitempty})
are those of k8s.io/api and k8s.io/apimachinery at v0.33 (Kubernetes 1.33), written here in kapid's
own compact notation rather than as C{.proto} files or generated code. L{MESSAGES} covers every
message reachable from the kinds of L{KINDS}: the objects C{kubectl create <generator>},
C{kubectl create token}, C{kubectl auth can-i} (and C{--list}), C{kubectl auth whoami}, C{kubectl autoscale},
C{kubectl debug} and C{kubectl certificate approve|deny} send.

A message name is qualified with its group version (C{autoscaling/v2.MetricSpec}) only where two
packages have messages of that name.

Notation, one message per entry (continuation lines are indented)::

    Name: <number> <jsonName> <type> [flags]; ...

C{<type>} is a scalar (C{string}, C{bool}, C{int32}, C{int64}, C{bytes}, ...), a message name, C{[T]}
for a repeated field or C{{K:V}} for a map. Flags: C{o} the JSON field has C{omitempty}; C{p} the Go
field is a pointer (so a zero value is still sent); C{i} the Go field is embedded and its fields are
inlined into the parent's JSON object. The messages with their own JSON forms (C{Time},
C{MicroTime}, C{IntOrString}, C{Quantity}, C{Duration}, C{RawExtension}, C{FieldsV1},
C{ExtraValue}) are decoded by L{kapid.apimachinery.protobuf} itself.
"""

from __future__ import annotations

from typing import Any

#: cardinalities
ONE, REPEATED, MAP = "one", "repeated", "map"
#: flags
OMITEMPTY, POINTER, INLINE = "o", "p", "i"

#: scalar type -> protobuf wire type
SCALARS = {
    "string": 2,
    "bytes": 2,
    "bool": 0,
    "int32": 0,
    "int64": 0,
    "uint32": 0,
    "uint64": 0,
    "sint32": 0,
    "sint64": 0,
    "fixed32": 5,
    "sfixed32": 5,
    "float": 5,
    "fixed64": 1,
    "sfixed64": 1,
    "double": 1,
}
#: scalars that may arrive packed in one length-delimited field
PACKABLE = frozenset(SCALARS) - {"string", "bytes"}

#: messages with their own JSON form, decoded by kapid.apimachinery.protobuf
SPECIAL = frozenset(
    {"Time", "MicroTime", "IntOrString", "Quantity", "Duration", "RawExtension", "FieldsV1", "ExtraValue"}
)

_TABLE = """\
AWSElasticBlockStoreVolumeSource: 1 volumeID string; 2 fsType string o; 3 partition int32 o; 4
    readOnly bool o
Affinity: 1 nodeAffinity NodeAffinity op; 2 podAffinity PodAffinity op; 3 podAntiAffinity
    PodAntiAffinity op
AggregationRule: 1 clusterRoleSelectors [LabelSelector] o
AppArmorProfile: 1 type string; 2 localhostProfile string op
AzureDiskVolumeSource: 1 diskName string; 2 diskURI string; 3 cachingMode string op; 4 fsType
    string op; 5 readOnly bool op; 6 kind string op
AzureFileVolumeSource: 1 secretName string; 2 shareName string; 3 readOnly bool o
Binding: 1 metadata ObjectMeta o; 2 target ObjectReference
BoundObjectReference: 1 kind string o; 2 apiVersion string o; 3 name string o; 4 uid string o
CSIVolumeSource: 1 driver string; 2 readOnly bool op; 3 fsType string op; 4 volumeAttributes
    {string:string} o; 5 nodePublishSecretRef LocalObjectReference op
Capabilities: 1 add [string] o; 2 drop [string] o
CephFSVolumeSource: 1 monitors [string]; 2 path string o; 3 user string o; 4 secretFile string
    o; 5 secretRef LocalObjectReference op; 6 readOnly bool o
CertificateSigningRequest: 1 metadata ObjectMeta o; 2 spec CertificateSigningRequestSpec; 3
    status CertificateSigningRequestStatus o
CertificateSigningRequestCondition: 1 type string; 6 status string; 2 reason string o; 3 message
    string o; 4 lastUpdateTime Time o; 5 lastTransitionTime Time o
CertificateSigningRequestSpec: 1 request bytes; 7 signerName string; 8 expirationSeconds int32
    op; 5 usages [string] o; 2 username string o; 3 uid string o; 4 groups [string] o; 6 extra
    {string:ExtraValue} o
CertificateSigningRequestStatus: 1 conditions [CertificateSigningRequestCondition] o; 2
    certificate bytes o
CinderVolumeSource: 1 volumeID string; 2 fsType string o; 3 readOnly bool o; 4 secretRef
    LocalObjectReference op
ClientIPConfig: 1 timeoutSeconds int32 op
ClusterRole: 1 metadata ObjectMeta o; 2 rules [PolicyRule]; 3 aggregationRule AggregationRule op
ClusterRoleBinding: 1 metadata ObjectMeta o; 2 subjects [Subject] o; 3 roleRef RoleRef
ClusterTrustBundleProjection: 1 name string op; 2 signerName string op; 3 labelSelector
    LabelSelector op; 5 optional bool op; 4 path string
Condition: 1 type string; 2 status string; 3 observedGeneration int64 o; 4 lastTransitionTime
    Time; 5 reason string; 6 message string
ConfigMap: 1 metadata ObjectMeta o; 4 immutable bool op; 2 data {string:string} o; 3 binaryData
    {string:bytes} o
ConfigMapEnvSource: 1 localObjectReference LocalObjectReference i; 2 optional bool op
ConfigMapKeySelector: 1 localObjectReference LocalObjectReference i; 2 key string; 3 optional
    bool op
ConfigMapProjection: 1 localObjectReference LocalObjectReference i; 2 items [KeyToPath] o; 4
    optional bool op
ConfigMapVolumeSource: 1 localObjectReference LocalObjectReference i; 2 items [KeyToPath] o; 3
    defaultMode int32 op; 4 optional bool op
Container: 1 name string; 2 image string o; 3 command [string] o; 4 args [string] o; 5
    workingDir string o; 6 ports [ContainerPort] o; 19 envFrom [EnvFromSource] o; 7 env [EnvVar]
    o; 8 resources ResourceRequirements o; 23 resizePolicy [ContainerResizePolicy] o; 24
    restartPolicy string op; 9 volumeMounts [VolumeMount] o; 21 volumeDevices [VolumeDevice] o;
    10 livenessProbe Probe op; 11 readinessProbe Probe op; 22 startupProbe Probe op; 12
    lifecycle Lifecycle op; 13 terminationMessagePath string o; 20 terminationMessagePolicy
    string o; 14 imagePullPolicy string o; 15 securityContext SecurityContext op; 16 stdin bool
    o; 17 stdinOnce bool o; 18 tty bool o
ContainerPort: 1 name string o; 2 hostPort int32 o; 3 containerPort int32; 4 protocol string o;
    5 hostIP string o
ContainerResizePolicy: 1 resourceName string; 2 restartPolicy string
ContainerResourceMetricSource: 1 name string; 2 target MetricTarget; 3 container string
ContainerResourceMetricStatus: 1 name string; 2 current MetricValueStatus; 3 container string
ContainerState: 1 waiting ContainerStateWaiting op; 2 running ContainerStateRunning op; 3
    terminated ContainerStateTerminated op
ContainerStateRunning: 1 startedAt Time o
ContainerStateTerminated: 1 exitCode int32; 2 signal int32 o; 3 reason string o; 4 message
    string o; 5 startedAt Time o; 6 finishedAt Time o; 7 containerID string o
ContainerStateWaiting: 1 reason string o; 2 message string o
ContainerStatus: 1 name string; 2 state ContainerState o; 3 lastState ContainerState o; 4 ready
    bool; 5 restartCount int32; 6 image string; 7 imageID string; 8 containerID string o; 9
    started bool op; 10 allocatedResources {string:Quantity} o; 11 resources
    ResourceRequirements op; 12 volumeMounts [VolumeMountStatus] o; 13 user ContainerUser op; 14
    allocatedResourcesStatus [ResourceStatus] o; 15 stopSignal string op
ContainerUser: 1 linux LinuxContainerUser op
CronJob: 1 metadata ObjectMeta o; 2 spec CronJobSpec o; 3 status CronJobStatus o
CronJobSpec: 1 schedule string; 8 timeZone string op; 2 startingDeadlineSeconds int64 op; 3
    concurrencyPolicy string o; 4 suspend bool op; 5 jobTemplate JobTemplateSpec; 6
    successfulJobsHistoryLimit int32 op; 7 failedJobsHistoryLimit int32 op
CronJobStatus: 1 active [ObjectReference] o; 4 lastScheduleTime Time op; 5 lastSuccessfulTime
    Time op
DeleteOptions: 1 gracePeriodSeconds int64 op; 2 preconditions Preconditions op; 3
    orphanDependents bool op; 4 propagationPolicy string op; 5 dryRun [string] o; 6
    ignoreStoreReadErrorWithClusterBreakingPotential bool op
Deployment: 1 metadata ObjectMeta o; 2 spec DeploymentSpec o; 3 status DeploymentStatus o
DeploymentCondition: 1 type string; 2 status string; 6 lastUpdateTime Time o; 7
    lastTransitionTime Time o; 4 reason string o; 5 message string o
DeploymentSpec: 1 replicas int32 op; 2 selector LabelSelector p; 3 template PodTemplateSpec; 4
    strategy DeploymentStrategy o; 5 minReadySeconds int32 o; 6 revisionHistoryLimit int32 op; 7
    paused bool o; 9 progressDeadlineSeconds int32 op
DeploymentStatus: 1 observedGeneration int64 o; 2 replicas int32 o; 3 updatedReplicas int32 o; 7
    readyReplicas int32 o; 4 availableReplicas int32 o; 5 unavailableReplicas int32 o; 9
    terminatingReplicas int32 op; 6 conditions [DeploymentCondition] o; 8 collisionCount int32
    op
DeploymentStrategy: 1 type string o; 2 rollingUpdate RollingUpdateDeployment op
DownwardAPIProjection: 1 items [DownwardAPIVolumeFile] o
DownwardAPIVolumeFile: 1 path string; 2 fieldRef ObjectFieldSelector op; 3 resourceFieldRef
    ResourceFieldSelector op; 4 mode int32 op
DownwardAPIVolumeSource: 1 items [DownwardAPIVolumeFile] o; 2 defaultMode int32 op
Eviction: 1 metadata ObjectMeta o; 2 deleteOptions DeleteOptions op
EmptyDirVolumeSource: 1 medium string o; 2 sizeLimit Quantity op
EnvFromSource: 1 prefix string o; 2 configMapRef ConfigMapEnvSource op; 3 secretRef
    SecretEnvSource op
EnvVar: 1 name string; 2 value string o; 3 valueFrom EnvVarSource op
EnvVarSource: 1 fieldRef ObjectFieldSelector op; 2 resourceFieldRef ResourceFieldSelector op; 3
    configMapKeyRef ConfigMapKeySelector op; 4 secretKeyRef SecretKeySelector op
EphemeralContainer: 1 ephemeralContainerCommon EphemeralContainerCommon i; 2 targetContainerName
    string o
EphemeralContainerCommon: 1 name string; 2 image string o; 3 command [string] o; 4 args [string]
    o; 5 workingDir string o; 6 ports [ContainerPort] o; 19 envFrom [EnvFromSource] o; 7 env
    [EnvVar] o; 8 resources ResourceRequirements o; 23 resizePolicy [ContainerResizePolicy] o;
    24 restartPolicy string op; 9 volumeMounts [VolumeMount] o; 21 volumeDevices [VolumeDevice]
    o; 10 livenessProbe Probe op; 11 readinessProbe Probe op; 22 startupProbe Probe op; 12
    lifecycle Lifecycle op; 13 terminationMessagePath string o; 20 terminationMessagePolicy
    string o; 14 imagePullPolicy string o; 15 securityContext SecurityContext op; 16 stdin bool
    o; 17 stdinOnce bool o; 18 tty bool o
EphemeralVolumeSource: 1 volumeClaimTemplate PersistentVolumeClaimTemplate op
ExecAction: 1 command [string] o
ExternalMetricSource: 1 metric MetricIdentifier; 2 target MetricTarget
ExternalMetricStatus: 1 metric MetricIdentifier; 2 current MetricValueStatus
FCVolumeSource: 1 targetWWNs [string] o; 2 lun int32 op; 3 fsType string o; 4 readOnly bool o; 5
    wwids [string] o
FieldSelectorAttributes: 1 rawSelector string o; 2 requirements [FieldSelectorRequirement] o
FieldSelectorRequirement: 1 key string; 2 operator string; 3 values [string] o
FlexVolumeSource: 1 driver string; 2 fsType string o; 3 secretRef LocalObjectReference op; 4
    readOnly bool o; 5 options {string:string} o
FlockerVolumeSource: 1 datasetName string o; 2 datasetUUID string o
GCEPersistentDiskVolumeSource: 1 pdName string; 2 fsType string o; 3 partition int32 o; 4
    readOnly bool o
GRPCAction: 1 port int32; 2 service string p
GitRepoVolumeSource: 1 repository string; 2 revision string o; 3 directory string o
GlusterfsVolumeSource: 1 endpoints string; 2 path string; 3 readOnly bool o
HPAScalingPolicy: 1 type string; 2 value int32; 3 periodSeconds int32
HPAScalingRules: 3 stabilizationWindowSeconds int32 op; 1 selectPolicy string op; 2 policies
    [HPAScalingPolicy] o; 4 tolerance Quantity op
HTTPGetAction: 1 path string o; 2 port IntOrString; 3 host string o; 4 scheme string o; 5
    httpHeaders [HTTPHeader] o
HTTPHeader: 1 name string; 2 value string
HTTPIngressPath: 1 path string o; 3 pathType string p; 2 backend IngressBackend
HTTPIngressRuleValue: 1 paths [HTTPIngressPath]
HorizontalPodAutoscalerBehavior: 1 scaleUp HPAScalingRules op; 2 scaleDown HPAScalingRules op
HorizontalPodAutoscalerCondition: 1 type string; 2 status string; 3 lastTransitionTime Time o; 4
    reason string o; 5 message string o
HostAlias: 1 ip string; 2 hostnames [string] o
HostIP: 1 ip string
HostPathVolumeSource: 1 path string; 2 type string op
ISCSIVolumeSource: 1 targetPortal string; 2 iqn string; 3 lun int32; 4 iscsiInterface string o;
    5 fsType string o; 6 readOnly bool o; 7 portals [string] o; 8 chapAuthDiscovery bool o; 11
    chapAuthSession bool o; 10 secretRef LocalObjectReference op; 12 initiatorName string op
ImageVolumeSource: 1 reference string o; 2 pullPolicy string o
Ingress: 1 metadata ObjectMeta o; 2 spec IngressSpec o; 3 status IngressStatus o
IngressBackend: 4 service IngressServiceBackend op; 3 resource TypedLocalObjectReference op
IngressLoadBalancerIngress: 1 ip string o; 2 hostname string o; 4 ports [IngressPortStatus] o
IngressLoadBalancerStatus: 1 ingress [IngressLoadBalancerIngress] o
IngressPortStatus: 1 port int32; 2 protocol string; 3 error string op
IngressRule: 1 host string o; 2 ingressRuleValue IngressRuleValue i
IngressRuleValue: 1 http HTTPIngressRuleValue op
IngressServiceBackend: 1 name string; 2 port ServiceBackendPort o
IngressSpec: 4 ingressClassName string op; 1 defaultBackend IngressBackend op; 2 tls
    [IngressTLS] o; 3 rules [IngressRule] o
IngressStatus: 1 loadBalancer IngressLoadBalancerStatus o
IngressTLS: 1 hosts [string] o; 2 secretName string o
Job: 1 metadata ObjectMeta o; 2 spec JobSpec o; 3 status JobStatus o
JobCondition: 1 type string; 2 status string; 3 lastProbeTime Time o; 4 lastTransitionTime Time
    o; 5 reason string o; 6 message string o
JobSpec: 1 parallelism int32 op; 2 completions int32 op; 3 activeDeadlineSeconds int64 op; 11
    podFailurePolicy PodFailurePolicy op; 16 successPolicy SuccessPolicy op; 7 backoffLimit
    int32 op; 12 backoffLimitPerIndex int32 op; 13 maxFailedIndexes int32 op; 4 selector
    LabelSelector op; 5 manualSelector bool op; 6 template PodTemplateSpec; 8
    ttlSecondsAfterFinished int32 op; 9 completionMode string op; 10 suspend bool op; 14
    podReplacementPolicy string op; 15 managedBy string op
JobStatus: 1 conditions [JobCondition] o; 2 startTime Time op; 3 completionTime Time op; 4
    active int32 o; 5 succeeded int32 o; 6 failed int32 o; 11 terminating int32 op; 7
    completedIndexes string o; 10 failedIndexes string op; 8 uncountedTerminatedPods
    UncountedTerminatedPods op; 9 ready int32 op
JobTemplateSpec: 1 metadata ObjectMeta o; 2 spec JobSpec o
KeyToPath: 1 key string; 2 path string; 3 mode int32 op
LabelSelector: 1 matchLabels {string:string} o; 2 matchExpressions [LabelSelectorRequirement] o
LabelSelectorAttributes: 1 rawSelector string o; 2 requirements [LabelSelectorRequirement] o
LabelSelectorRequirement: 1 key string; 2 operator string; 3 values [string] o
Lifecycle: 1 postStart LifecycleHandler op; 2 preStop LifecycleHandler op; 3 stopSignal string
    op
LifecycleHandler: 1 exec ExecAction op; 2 httpGet HTTPGetAction op; 3 tcpSocket TCPSocketAction
    op; 4 sleep SleepAction op
LinuxContainerUser: 1 uid int64; 2 gid int64; 3 supplementalGroups [int64] o
LoadBalancerIngress: 1 ip string o; 2 hostname string o; 3 ipMode string op; 4 ports
    [PortStatus] o
LoadBalancerStatus: 1 ingress [LoadBalancerIngress] o
LocalObjectReference: 1 name string o
LocalSubjectAccessReview: 1 metadata ObjectMeta o; 2 spec SubjectAccessReviewSpec; 3 status
    SubjectAccessReviewStatus o
ManagedFieldsEntry: 1 manager string o; 2 operation string o; 3 apiVersion string o; 4 time Time
    op; 6 fieldsType string o; 7 fieldsV1 FieldsV1 op; 8 subresource string o
MetricIdentifier: 1 name string; 2 selector LabelSelector op
MetricSpec: 1 type string; 2 object ObjectMetricSource op; 3 pods PodsMetricSource op; 4
    resource ResourceMetricSource op; 7 containerResource ContainerResourceMetricSource op; 5
    external ExternalMetricSource op
MetricStatus: 1 type string; 2 object ObjectMetricStatus op; 3 pods PodsMetricStatus op; 4
    resource ResourceMetricStatus op; 7 containerResource ContainerResourceMetricStatus op; 5
    external ExternalMetricStatus op
MetricTarget: 1 type string; 2 value Quantity op; 3 averageValue Quantity op; 4
    averageUtilization int32 op
MetricValueStatus: 1 value Quantity op; 2 averageValue Quantity op; 3 averageUtilization int32
    op
NFSVolumeSource: 1 server string; 2 path string; 3 readOnly bool o
Namespace: 1 metadata ObjectMeta o; 2 spec NamespaceSpec o; 3 status NamespaceStatus o
NamespaceCondition: 1 type string; 2 status string; 4 lastTransitionTime Time o; 5 reason string
    o; 6 message string o
NamespaceSpec: 1 finalizers [string] o
NamespaceStatus: 1 phase string o; 2 conditions [NamespaceCondition] o
NodeAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution NodeSelector op; 2
    preferredDuringSchedulingIgnoredDuringExecution [PreferredSchedulingTerm] o
NodeSelector: 1 nodeSelectorTerms [NodeSelectorTerm]
NodeSelectorRequirement: 1 key string; 2 operator string; 3 values [string] o
NodeSelectorTerm: 1 matchExpressions [NodeSelectorRequirement] o; 2 matchFields
    [NodeSelectorRequirement] o
NonResourceAttributes: 1 path string o; 2 verb string o
ObjectFieldSelector: 1 apiVersion string o; 2 fieldPath string
ObjectMeta: 1 name string o; 2 generateName string o; 3 namespace string o; 4 selfLink string o;
    5 uid string o; 6 resourceVersion string o; 7 generation int64 o; 8 creationTimestamp Time
    o; 9 deletionTimestamp Time op; 10 deletionGracePeriodSeconds int64 op; 11 labels
    {string:string} o; 12 annotations {string:string} o; 13 ownerReferences [OwnerReference] o;
    14 finalizers [string] o; 17 managedFields [ManagedFieldsEntry] o
ObjectMetricSource: 1 describedObject autoscaling/v2.CrossVersionObjectReference; 2 target
    MetricTarget; 3 metric MetricIdentifier
ObjectMetricStatus: 1 metric MetricIdentifier; 2 current MetricValueStatus; 3 describedObject
    autoscaling/v2.CrossVersionObjectReference
ObjectReference: 1 kind string o; 2 namespace string o; 3 name string o; 4 uid string o; 5
    apiVersion string o; 6 resourceVersion string o; 7 fieldPath string o
OwnerReference: 5 apiVersion string; 1 kind string; 3 name string; 4 uid string; 6 controller
    bool op; 7 blockOwnerDeletion bool op
PersistentVolumeClaimSpec: 1 accessModes [string] o; 4 selector LabelSelector op; 2 resources
    VolumeResourceRequirements o; 3 volumeName string o; 5 storageClassName string op; 6
    volumeMode string op; 7 dataSource TypedLocalObjectReference op; 8 dataSourceRef
    TypedObjectReference op; 9 volumeAttributesClassName string op
PersistentVolumeClaimTemplate: 1 metadata ObjectMeta o; 2 spec PersistentVolumeClaimSpec
PersistentVolumeClaimVolumeSource: 1 claimName string; 2 readOnly bool o
PhotonPersistentDiskVolumeSource: 1 pdID string; 2 fsType string o
Pod: 1 metadata ObjectMeta o; 2 spec PodSpec o; 3 status PodStatus o
PodAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution [PodAffinityTerm] o; 2
    preferredDuringSchedulingIgnoredDuringExecution [WeightedPodAffinityTerm] o
PodAffinityTerm: 1 labelSelector LabelSelector op; 2 namespaces [string] o; 3 topologyKey
    string; 4 namespaceSelector LabelSelector op; 5 matchLabelKeys [string] o; 6
    mismatchLabelKeys [string] o
PodAntiAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution [PodAffinityTerm] o; 2
    preferredDuringSchedulingIgnoredDuringExecution [WeightedPodAffinityTerm] o
PodCondition: 1 type string; 7 observedGeneration int64 o; 2 status string; 3 lastProbeTime Time
    o; 4 lastTransitionTime Time o; 5 reason string o; 6 message string o
PodDNSConfig: 1 nameservers [string] o; 2 searches [string] o; 3 options [PodDNSConfigOption] o
PodDNSConfigOption: 1 name string o; 2 value string op
PodDisruptionBudget: 1 metadata ObjectMeta o; 2 spec PodDisruptionBudgetSpec o; 3 status
    PodDisruptionBudgetStatus o
PodDisruptionBudgetSpec: 1 minAvailable IntOrString op; 2 selector LabelSelector op; 3
    maxUnavailable IntOrString op; 4 unhealthyPodEvictionPolicy string op
PodDisruptionBudgetStatus: 1 observedGeneration int64 o; 2 disruptedPods {string:Time} o; 3
    disruptionsAllowed int32; 4 currentHealthy int32; 5 desiredHealthy int32; 6 expectedPods
    int32; 7 conditions [Condition] o
PodFailurePolicy: 1 rules [PodFailurePolicyRule]
PodFailurePolicyOnExitCodesRequirement: 1 containerName string op; 2 operator string; 3 values
    [int32]
PodFailurePolicyOnPodConditionsPattern: 1 type string; 2 status string
PodFailurePolicyRule: 1 action string; 2 onExitCodes PodFailurePolicyOnExitCodesRequirement op;
    3 onPodConditions [PodFailurePolicyOnPodConditionsPattern] o
PodIP: 1 ip string
PodOS: 1 name string
PodReadinessGate: 1 conditionType string
PodResourceClaim: 1 name string; 3 resourceClaimName string op; 4 resourceClaimTemplateName
    string op
PodResourceClaimStatus: 1 name string; 2 resourceClaimName string op
PodSchedulingGate: 1 name string
PodSecurityContext: 1 seLinuxOptions SELinuxOptions op; 8 windowsOptions
    WindowsSecurityContextOptions op; 2 runAsUser int64 op; 6 runAsGroup int64 op; 3
    runAsNonRoot bool op; 4 supplementalGroups [int64] o; 12 supplementalGroupsPolicy string op;
    5 fsGroup int64 op; 7 sysctls [Sysctl] o; 9 fsGroupChangePolicy string op; 10 seccompProfile
    SeccompProfile op; 11 appArmorProfile AppArmorProfile op; 13 seLinuxChangePolicy string op
PodSpec: 1 volumes [Volume] o; 20 initContainers [Container] o; 2 containers [Container]; 34
    ephemeralContainers [EphemeralContainer] o; 3 restartPolicy string o; 4
    terminationGracePeriodSeconds int64 op; 5 activeDeadlineSeconds int64 op; 6 dnsPolicy string
    o; 7 nodeSelector {string:string} o; 8 serviceAccountName string o; 9 serviceAccount string
    o; 21 automountServiceAccountToken bool op; 10 nodeName string o; 11 hostNetwork bool o; 12
    hostPID bool o; 13 hostIPC bool o; 27 shareProcessNamespace bool op; 14 securityContext
    PodSecurityContext op; 15 imagePullSecrets [LocalObjectReference] o; 16 hostname string o;
    17 subdomain string o; 18 affinity Affinity op; 19 schedulerName string o; 22 tolerations
    [Toleration] o; 23 hostAliases [HostAlias] o; 24 priorityClassName string o; 25 priority
    int32 op; 26 dnsConfig PodDNSConfig op; 28 readinessGates [PodReadinessGate] o; 29
    runtimeClassName string op; 30 enableServiceLinks bool op; 31 preemptionPolicy string op; 32
    overhead {string:Quantity} o; 33 topologySpreadConstraints [TopologySpreadConstraint] o; 35
    setHostnameAsFQDN bool op; 36 os PodOS op; 37 hostUsers bool op; 38 schedulingGates
    [PodSchedulingGate] o; 39 resourceClaims [PodResourceClaim] o; 40 resources
    ResourceRequirements op
PodStatus: 17 observedGeneration int64 o; 1 phase string o; 2 conditions [PodCondition] o; 3
    message string o; 4 reason string o; 11 nominatedNodeName string o; 5 hostIP string o; 16
    hostIPs [HostIP] o; 6 podIP string o; 12 podIPs [PodIP] o; 7 startTime Time op; 10
    initContainerStatuses [ContainerStatus] o; 8 containerStatuses [ContainerStatus] o; 9
    qosClass string o; 13 ephemeralContainerStatuses [ContainerStatus] o; 14 resize string o; 15
    resourceClaimStatuses [PodResourceClaimStatus] o
PodTemplateSpec: 1 metadata ObjectMeta o; 2 spec PodSpec o
PodsMetricSource: 1 metric MetricIdentifier; 2 target MetricTarget
PodsMetricStatus: 1 metric MetricIdentifier; 2 current MetricValueStatus
PolicyRule: 1 verbs [string]; 2 apiGroups [string] o; 3 resources [string] o; 4 resourceNames
    [string] o; 5 nonResourceURLs [string] o
PortStatus: 1 port int32; 2 protocol string; 3 error string op
PortworxVolumeSource: 1 volumeID string; 2 fsType string o; 3 readOnly bool o
Preconditions: 1 uid string op; 2 resourceVersion string op
PreferredSchedulingTerm: 1 weight int32; 2 preference NodeSelectorTerm
PriorityClass: 1 metadata ObjectMeta o; 2 value int32; 3 globalDefault bool o; 4 description
    string o; 5 preemptionPolicy string op
Probe: 1 handler ProbeHandler i; 2 initialDelaySeconds int32 o; 3 timeoutSeconds int32 o; 4
    periodSeconds int32 o; 5 successThreshold int32 o; 6 failureThreshold int32 o; 7
    terminationGracePeriodSeconds int64 op
ProbeHandler: 1 exec ExecAction op; 2 httpGet HTTPGetAction op; 3 tcpSocket TCPSocketAction op;
    4 grpc GRPCAction op
ProjectedVolumeSource: 1 sources [VolumeProjection]; 2 defaultMode int32 op
QuobyteVolumeSource: 1 registry string; 2 volume string; 3 readOnly bool o; 4 user string o; 5
    group string o; 6 tenant string o
RBDVolumeSource: 1 monitors [string]; 2 image string; 3 fsType string o; 4 pool string o; 5 user
    string o; 6 keyring string o; 7 secretRef LocalObjectReference op; 8 readOnly bool o
ResourceAttributes: 1 namespace string o; 2 verb string o; 3 group string o; 4 version string o;
    5 resource string o; 6 subresource string o; 7 name string o; 8 fieldSelector
    FieldSelectorAttributes op; 9 labelSelector LabelSelectorAttributes op
ResourceClaim: 1 name string; 2 request string o
ResourceFieldSelector: 1 containerName string o; 2 resource string; 3 divisor Quantity o
ResourceHealth: 1 resourceID string; 2 health string o
ResourceMetricSource: 1 name string; 2 target MetricTarget
ResourceMetricStatus: 1 name string; 2 current MetricValueStatus
ResourceQuota: 1 metadata ObjectMeta o; 2 spec ResourceQuotaSpec o; 3 status ResourceQuotaStatus
    o
ResourceQuotaSpec: 1 hard {string:Quantity} o; 2 scopes [string] o; 3 scopeSelector
    ScopeSelector op
ResourceQuotaStatus: 1 hard {string:Quantity} o; 2 used {string:Quantity} o
ResourceRequirements: 1 limits {string:Quantity} o; 2 requests {string:Quantity} o; 3 claims
    [ResourceClaim] o
ResourceStatus: 1 name string; 2 resources [ResourceHealth] o
Role: 1 metadata ObjectMeta o; 2 rules [PolicyRule]
RoleBinding: 1 metadata ObjectMeta o; 2 subjects [Subject] o; 3 roleRef RoleRef
RoleRef: 1 apiGroup string; 2 kind string; 3 name string
RollingUpdateDeployment: 1 maxUnavailable IntOrString op; 2 maxSurge IntOrString op
SELinuxOptions: 1 user string o; 2 role string o; 3 type string o; 4 level string o
Scale: 1 metadata ObjectMeta o; 2 spec ScaleSpec o; 3 status ScaleStatus o
ScaleIOVolumeSource: 1 gateway string; 2 system string; 3 secretRef LocalObjectReference p; 4
    sslEnabled bool o; 5 protectionDomain string o; 6 storagePool string o; 7 storageMode string
    o; 8 volumeName string o; 9 fsType string o; 10 readOnly bool o
ScaleSpec: 1 replicas int32 o
ScaleStatus: 1 replicas int32; 2 selector string o
ScopeSelector: 1 matchExpressions [ScopedResourceSelectorRequirement] o
ScopedResourceSelectorRequirement: 1 scopeName string; 2 operator string; 3 values [string] o
SeccompProfile: 1 type string; 2 localhostProfile string op
Secret: 1 metadata ObjectMeta o; 5 immutable bool op; 2 data {string:bytes} o; 4 stringData
    {string:string} o; 3 type string o
SecretEnvSource: 1 localObjectReference LocalObjectReference i; 2 optional bool op
SecretKeySelector: 1 localObjectReference LocalObjectReference i; 2 key string; 3 optional bool
    op
SecretProjection: 1 localObjectReference LocalObjectReference i; 2 items [KeyToPath] o; 4
    optional bool op
SecretVolumeSource: 1 secretName string o; 2 items [KeyToPath] o; 3 defaultMode int32 op; 4
    optional bool op
SecurityContext: 1 capabilities Capabilities op; 2 privileged bool op; 3 seLinuxOptions
    SELinuxOptions op; 10 windowsOptions WindowsSecurityContextOptions op; 4 runAsUser int64 op;
    8 runAsGroup int64 op; 5 runAsNonRoot bool op; 6 readOnlyRootFilesystem bool op; 7
    allowPrivilegeEscalation bool op; 9 procMount string op; 11 seccompProfile SeccompProfile
    op; 12 appArmorProfile AppArmorProfile op
SelfSubjectAccessReview: 1 metadata ObjectMeta o; 2 spec SelfSubjectAccessReviewSpec; 3 status
    SubjectAccessReviewStatus o
SelfSubjectAccessReviewSpec: 1 resourceAttributes ResourceAttributes op; 2 nonResourceAttributes
    NonResourceAttributes op
SelfSubjectReview: 1 metadata ObjectMeta o; 2 status SelfSubjectReviewStatus o
SelfSubjectReviewStatus: 1 userInfo UserInfo o
SelfSubjectRulesReview: 1 metadata ObjectMeta o; 2 spec SelfSubjectRulesReviewSpec; 3 status
    SubjectRulesReviewStatus o
SelfSubjectRulesReviewSpec: 1 namespace string o
SubjectAccessReview: 1 metadata ObjectMeta o; 2 spec SubjectAccessReviewSpec; 3 status
    SubjectAccessReviewStatus o
SubjectAccessReviewSpec: 1 resourceAttributes ResourceAttributes op; 2 nonResourceAttributes
    NonResourceAttributes op; 3 user string o; 4 groups [string] o; 5 extra {string:ExtraValue} o;
    6 uid string o
SubjectRulesReviewStatus: 1 resourceRules [ResourceRule]; 2 nonResourceRules [NonResourceRule]; 3
    incomplete bool; 4 evaluationError string o
ResourceRule: 1 verbs [string]; 2 apiGroups [string] o; 3 resources [string] o; 4 resourceNames
    [string] o
NonResourceRule: 1 verbs [string]; 2 nonResourceURLs [string] o
Service: 1 metadata ObjectMeta o; 2 spec ServiceSpec o; 3 status ServiceStatus o
ServiceAccount: 1 metadata ObjectMeta o; 2 secrets [ObjectReference] o; 3 imagePullSecrets
    [LocalObjectReference] o; 4 automountServiceAccountToken bool op
ServiceAccountTokenProjection: 1 audience string o; 2 expirationSeconds int64 op; 3 path string
ServiceBackendPort: 1 name string o; 2 number int32 o
ServicePort: 1 name string o; 2 protocol string o; 6 appProtocol string op; 3 port int32; 4
    targetPort IntOrString o; 5 nodePort int32 o
ServiceSpec: 1 ports [ServicePort] o; 2 selector {string:string} o; 3 clusterIP string o; 18
    clusterIPs [string] o; 4 type string o; 5 externalIPs [string] o; 7 sessionAffinity string
    o; 8 loadBalancerIP string o; 9 loadBalancerSourceRanges [string] o; 10 externalName string
    o; 11 externalTrafficPolicy string o; 12 healthCheckNodePort int32 o; 13
    publishNotReadyAddresses bool o; 14 sessionAffinityConfig SessionAffinityConfig op; 19
    ipFamilies [string] o; 17 ipFamilyPolicy string op; 20 allocateLoadBalancerNodePorts bool
    op; 21 loadBalancerClass string op; 22 internalTrafficPolicy string op; 23
    trafficDistribution string op
ServiceStatus: 1 loadBalancer LoadBalancerStatus o; 2 conditions [Condition] o
SessionAffinityConfig: 1 clientIP ClientIPConfig op
SleepAction: 1 seconds int64
StorageOSVolumeSource: 1 volumeName string o; 2 volumeNamespace string o; 3 fsType string o; 4
    readOnly bool o; 5 secretRef LocalObjectReference op
Subject: 1 kind string; 2 apiGroup string o; 3 name string; 4 namespace string o
SubjectAccessReviewStatus: 1 allowed bool; 4 denied bool o; 2 reason string o; 3 evaluationError
    string o
SuccessPolicy: 1 rules [SuccessPolicyRule]
SuccessPolicyRule: 1 succeededIndexes string op; 2 succeededCount int32 op
Sysctl: 1 name string; 2 value string
TCPSocketAction: 1 port IntOrString; 2 host string o
TokenRequest: 1 metadata ObjectMeta o; 2 spec TokenRequestSpec; 3 status TokenRequestStatus o
TokenRequestSpec: 1 audiences [string]; 4 expirationSeconds int64 p; 3 boundObjectRef
    BoundObjectReference p
TokenRequestStatus: 1 token string; 2 expirationTimestamp Time
TokenReview: 1 metadata ObjectMeta o; 2 spec TokenReviewSpec; 3 status TokenReviewStatus o
TokenReviewSpec: 1 token string o; 2 audiences [string] o
TokenReviewStatus: 1 authenticated bool o; 2 user UserInfo o; 4 audiences [string] o; 3 error
    string o
Toleration: 1 key string o; 2 operator string o; 3 value string o; 4 effect string o; 5
    tolerationSeconds int64 op
TopologySpreadConstraint: 1 maxSkew int32; 2 topologyKey string; 3 whenUnsatisfiable string; 4
    labelSelector LabelSelector op; 5 minDomains int32 op; 6 nodeAffinityPolicy string op; 7
    nodeTaintsPolicy string op; 8 matchLabelKeys [string] o
TypedLocalObjectReference: 1 apiGroup string p; 2 kind string; 3 name string
TypedObjectReference: 1 apiGroup string p; 2 kind string; 3 name string; 4 namespace string op
UncountedTerminatedPods: 1 succeeded [string] o; 2 failed [string] o
UserInfo: 1 username string o; 2 uid string o; 3 groups [string] o; 4 extra {string:ExtraValue}
    o
Volume: 1 name string; 2 volumeSource VolumeSource i
VolumeDevice: 1 name string; 2 devicePath string
VolumeMount: 1 name string; 2 readOnly bool o; 7 recursiveReadOnly string op; 3 mountPath
    string; 4 subPath string o; 5 mountPropagation string op; 6 subPathExpr string o
VolumeMountStatus: 1 name string; 2 mountPath string; 3 readOnly bool o; 4 recursiveReadOnly
    string op
VolumeProjection: 1 secret SecretProjection op; 2 downwardAPI DownwardAPIProjection op; 3
    configMap ConfigMapProjection op; 4 serviceAccountToken ServiceAccountTokenProjection op; 5
    clusterTrustBundle ClusterTrustBundleProjection op
VolumeResourceRequirements: 1 limits {string:Quantity} o; 2 requests {string:Quantity} o
VolumeSource: 1 hostPath HostPathVolumeSource op; 2 emptyDir EmptyDirVolumeSource op; 3
    gcePersistentDisk GCEPersistentDiskVolumeSource op; 4 awsElasticBlockStore
    AWSElasticBlockStoreVolumeSource op; 5 gitRepo GitRepoVolumeSource op; 6 secret
    SecretVolumeSource op; 7 nfs NFSVolumeSource op; 8 iscsi ISCSIVolumeSource op; 9 glusterfs
    GlusterfsVolumeSource op; 10 persistentVolumeClaim PersistentVolumeClaimVolumeSource op; 11
    rbd RBDVolumeSource op; 12 flexVolume FlexVolumeSource op; 13 cinder CinderVolumeSource op;
    14 cephfs CephFSVolumeSource op; 15 flocker FlockerVolumeSource op; 16 downwardAPI
    DownwardAPIVolumeSource op; 17 fc FCVolumeSource op; 18 azureFile AzureFileVolumeSource op;
    19 configMap ConfigMapVolumeSource op; 20 vsphereVolume VsphereVirtualDiskVolumeSource op;
    21 quobyte QuobyteVolumeSource op; 22 azureDisk AzureDiskVolumeSource op; 23
    photonPersistentDisk PhotonPersistentDiskVolumeSource op; 26 projected ProjectedVolumeSource
    op; 24 portworxVolume PortworxVolumeSource op; 25 scaleIO ScaleIOVolumeSource op; 27
    storageos StorageOSVolumeSource op; 28 csi CSIVolumeSource op; 29 ephemeral
    EphemeralVolumeSource op; 30 image ImageVolumeSource op
VsphereVirtualDiskVolumeSource: 1 volumePath string; 2 fsType string o; 3 storagePolicyName
    string o; 4 storagePolicyID string o
WeightedPodAffinityTerm: 1 weight int32; 2 podAffinityTerm PodAffinityTerm
WindowsSecurityContextOptions: 1 gmsaCredentialSpecName string op; 2 gmsaCredentialSpec string
    op; 3 runAsUserName string op; 4 hostProcess bool op
autoscaling/v1.CrossVersionObjectReference: 1 kind string; 2 name string; 3 apiVersion string o
autoscaling/v1.HorizontalPodAutoscaler: 1 metadata ObjectMeta o; 2 spec
    autoscaling/v1.HorizontalPodAutoscalerSpec o; 3 status
    autoscaling/v1.HorizontalPodAutoscalerStatus o
autoscaling/v1.HorizontalPodAutoscalerSpec: 1 scaleTargetRef
    autoscaling/v1.CrossVersionObjectReference; 2 minReplicas int32 op; 3 maxReplicas int32; 4
    targetCPUUtilizationPercentage int32 op
autoscaling/v1.HorizontalPodAutoscalerStatus: 1 observedGeneration int64 op; 2 lastScaleTime
    Time op; 3 currentReplicas int32; 4 desiredReplicas int32; 5 currentCPUUtilizationPercentage
    int32 op
autoscaling/v2.CrossVersionObjectReference: 1 kind string; 2 name string; 3 apiVersion string o
autoscaling/v2.HorizontalPodAutoscaler: 1 metadata ObjectMeta o; 2 spec
    autoscaling/v2.HorizontalPodAutoscalerSpec o; 3 status
    autoscaling/v2.HorizontalPodAutoscalerStatus o
autoscaling/v2.HorizontalPodAutoscalerSpec: 1 scaleTargetRef
    autoscaling/v2.CrossVersionObjectReference; 2 minReplicas int32 op; 3 maxReplicas int32; 4
    metrics [MetricSpec] o; 5 behavior HorizontalPodAutoscalerBehavior op
autoscaling/v2.HorizontalPodAutoscalerStatus: 1 observedGeneration int64 op; 2 lastScaleTime
    Time op; 3 currentReplicas int32 o; 4 desiredReplicas int32; 5 currentMetrics
    [MetricStatus]; 6 conditions [HorizontalPodAutoscalerCondition] o
"""

#: (group, version, kind) -> the message of the object
KINDS: dict[tuple[str, str, str], str] = {
    ("", "v1", "Namespace"): "Namespace",
    ("", "v1", "ConfigMap"): "ConfigMap",
    ("", "v1", "Secret"): "Secret",
    ("", "v1", "Service"): "Service",
    ("", "v1", "ServiceAccount"): "ServiceAccount",
    ("", "v1", "ResourceQuota"): "ResourceQuota",
    # kubectl debug (node/pod copies)
    ("", "v1", "Pod"): "Pod",
    ("apps", "v1", "Deployment"): "Deployment",
    ("batch", "v1", "Job"): "Job",
    ("batch", "v1", "CronJob"): "CronJob",
    ("rbac.authorization.k8s.io", "v1", "Role"): "Role",
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"): "ClusterRoleBinding",
    ("networking.k8s.io", "v1", "Ingress"): "Ingress",
    ("policy", "v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("scheduling.k8s.io", "v1", "PriorityClass"): "PriorityClass",
    ("authentication.k8s.io", "v1", "TokenRequest"): "TokenRequest",
    ("authentication.k8s.io", "v1", "SelfSubjectReview"): "SelfSubjectReview",
    # whoami tries v1, then v1beta1, then v1alpha1: the same messages
    ("authentication.k8s.io", "v1beta1", "SelfSubjectReview"): "SelfSubjectReview",
    ("authentication.k8s.io", "v1alpha1", "SelfSubjectReview"): "SelfSubjectReview",
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    # kubectl auth can-i --list
    ("authorization.k8s.io", "v1", "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
    # kubectl autoscale (1.32 sends v1, 1.33 v2)
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): "autoscaling/v1.HorizontalPodAutoscaler",
    ("autoscaling", "v2", "HorizontalPodAutoscaler"): "autoscaling/v2.HorizontalPodAutoscaler",
    # kubectl certificate approve / deny (PUT .../approval)
    ("certificates.k8s.io", "v1", "CertificateSigningRequest"): "CertificateSigningRequest",
    # client-go programs: the scheduler's binding, scale subresources, the review APIs
    ("", "v1", "Binding"): "Binding",
    ("autoscaling", "v1", "Scale"): "Scale",
    ("authentication.k8s.io", "v1", "TokenReview"): "TokenReview",
    ("authorization.k8s.io", "v1", "SubjectAccessReview"): "SubjectAccessReview",
    ("authorization.k8s.io", "v1", "LocalSubjectAccessReview"): "LocalSubjectAccessReview",
    # kubectl drain (pods/eviction)
    ("policy", "v1", "Eviction"): "Eviction",
    ("policy", "v1beta1", "Eviction"): "Eviction",
}

#: kind -> message of the options kinds kube registers in every group version (and meta.k8s.io/v1):
#: a client-go program sends C{DeleteOptions} as C{v1}, C{apps/v1}, ... (Helm deleting its release
#: Secrets, C{kubectl drain --disable-eviction})
OPTIONS_KINDS: dict[str, str] = {
    "DeleteOptions": "DeleteOptions",
}

#: A field: (json name, type, cardinality, flags). For maps the type is (key type, value type).
Field = tuple[str, Any, str, str]


def _parse(table: str) -> dict[str, dict[int, Field]]:
    """
    Read the notation above into message name -> {field number: L{Field}}, in Go's field order.
    """
    entries: list[str] = []
    for line in table.splitlines():
        if line.startswith((" ", "\t")):
            entries[-1] += " " + line.strip()
        elif line.strip():
            entries.append(line.strip())
    messages: dict[str, dict[int, Field]] = {}
    for entry in entries:
        name, _, body = entry.partition(": ")
        message: dict[int, Field] = {}
        for spec in body.split("; "):
            number, json_name, typ, *flags = spec.split(" ")
            if typ.startswith("["):
                message[int(number)] = (json_name, typ[1:-1], REPEATED, "".join(flags))
            elif typ.startswith("{"):
                key, value = typ[1:-1].split(":")
                message[int(number)] = (json_name, (key, value), MAP, "".join(flags))
            else:
                message[int(number)] = (json_name, typ, ONE, "".join(flags))
        messages[name] = message
    return messages


#: message name -> {field number: (json name, type, cardinality, flags)}
MESSAGES = _parse(_TABLE)
