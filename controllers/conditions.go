package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// The three kstatus conditions always move together; these helpers keep them consistent so that
// Ready, Reconciling and Stalled never contradict each other.

func setInProgress(ib *buildv1.ImageBuild, phase buildv1.BuildPhase, reason, message string) {
	ib.Status.Phase = phase
	setConditions(ib, metav1.ConditionFalse, metav1.ConditionTrue, metav1.ConditionFalse, reason, message)
}

// setStalled marks a build that cannot go on until somebody changes something, without ending it:
// the build resumes by itself once the missing piece (a Secret) appears.
func setStalled(ib *buildv1.ImageBuild, reason, message string) {
	ib.Status.Phase = buildv1.PhasePending
	setConditions(ib, metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionTrue, reason, message)
}

func setSucceeded(ib *buildv1.ImageBuild, message string) {
	ib.Status.Phase = buildv1.PhaseSucceeded
	setConditions(ib, metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionFalse, buildv1.ReasonSucceeded, message)
}

// setUpToDate marks a build that reused an image built earlier from the same inputs.
func setUpToDate(ib *buildv1.ImageBuild, message string) {
	ib.Status.Phase = buildv1.PhaseSucceeded
	setConditions(ib, metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionFalse, buildv1.ReasonUpToDate, message)
}

func setFailed(ib *buildv1.ImageBuild, reason, message string) {
	ib.Status.Phase = buildv1.PhaseFailed
	setConditions(ib, metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionTrue, reason, message)
}

func setConditions(ib *buildv1.ImageBuild, ready, reconciling, stalled metav1.ConditionStatus, reason, message string) {
	for _, c := range []struct {
		typ    string
		status metav1.ConditionStatus
	}{
		{buildv1.ConditionReady, ready},
		{buildv1.ConditionReconciling, reconciling},
		{buildv1.ConditionStalled, stalled},
	} {
		meta.SetStatusCondition(&ib.Status.Conditions, metav1.Condition{
			Type:               c.typ,
			Status:             c.status,
			Reason:             reason,
			Message:            message,
			ObservedGeneration: ib.Generation,
		})
	}
}

// readyReason is the reason of the Ready condition, the one word that summarises a build's state
// for events and metrics.
func readyReason(ib *buildv1.ImageBuild) string {
	if c := meta.FindStatusCondition(ib.Status.Conditions, buildv1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

func readyMessage(ib *buildv1.ImageBuild) string {
	if c := meta.FindStatusCondition(ib.Status.Conditions, buildv1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}
