using System.Numerics;
using CurvNative.Autodiff;

namespace CurvNative.Pde;

/// <summary>
/// A PDE operator applied to u at N points, as nodes of the autodiff graph (differentiable with respect to the
/// parameters of u when recording was on).
/// </summary>
/// <param name="Values">[N]: the operator applied to u at each point.</param>
/// <param name="Output">[N]: u at each point.</param>
/// <param name="Gradient">[N, D]: the input gradient of u, when the computation yields it for free (exact Laplacian and
/// biharmonic in the Taylor modes, every nested computation); null otherwise (see <see cref="PdeOps.InputGradient{T}"/>).</param>
/// <param name="DirectionalDerivatives">[N, R]: the first-order coefficients grad u . v_r along the operator's directions
/// (Taylor modes; null in nested mode).</param>
/// <param name="PropagatedVectors">Taylor modes: the most vectors per point a jet held (2 + D for the exact collapsed
/// Laplacian, 1 + 2D standard); null in nested mode.</param>
public sealed record PdeResult<T>(Var<T> Values, Var<T> Output, Var<T>? Gradient, Var<T>? DirectionalDerivatives, int? PropagatedVectors)
    where T : unmanaged, IFloatingPointIeee754<T>;
