import { Type } from 'typebox';

export const RootInfo = Type.Object({
  app: Type.String(),
  version: Type.String(),
  status: Type.Literal('operational'),
  docs: Type.String(),
  api: Type.String(),
});

export const Liveness = Type.Object({
  status: Type.Literal('healthy'),
  app: Type.String(),
});
